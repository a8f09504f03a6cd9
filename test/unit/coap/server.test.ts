import { generate, parse } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import type { DatagramTransport, PeerAddress } from '../../../src/bearer/types.ts';
import { CONTENT } from '../../../src/coap/codes.ts';
import { EXCHANGE_LIFETIME_MS, PeerTable } from '../../../src/coap/peers.ts';
import { CoapServer, type Resource } from '../../../src/coap/server.ts';
import { silentLogger } from '../../../src/log.ts';

/** An in-memory bearer: the radio is the one thing these unit tests replace. */
class MemoryTransport implements DatagramTransport {
  readonly kind = 'udp' as const;
  readonly maxDatagram = 1152;
  readonly sent: Array<{ data: Buffer; peer: PeerAddress }> = [];
  private handler: ((d: Buffer, p: PeerAddress) => void) | undefined;
  constructor(readonly name: string) {}
  async start() {}
  async stop() {}
  async send(data: Buffer, peer: PeerAddress) {
    this.sent.push({ data, peer });
  }
  onMessage(h: (d: Buffer, p: PeerAddress) => void) {
    this.handler = h;
  }
  deliver(data: Buffer, port = 40000) {
    this.handler!(data, { address: '10.0.0.7', port, bearer: this.name });
  }
}

function setup(limits = { ratePerSecond: 1000, burst: 1000, repliesPerPeer: 4, maxPeers: 100 }) {
  let now = 0;
  const server = new CoapServer({ log: silentLogger(), clock: { now: () => now, monotonic: () => now }, limits, maxDatagram: 1500 });
  let calls = 0;
  const echo: Resource = {
    path: ['echo'],
    linkAttrs: '',
    handle: (req) => {
      calls++;
      return { code: CONTENT, payload: Buffer.from(`call ${calls} ${req.rest.join('/')}`) };
    },
  };
  const boom: Resource = { path: ['boom'], linkAttrs: '', handle: () => { throw new Error('kaput'); } };
  server.addResource(echo);
  server.addResource(boom);
  const a = new MemoryTransport('udp');
  const b = new MemoryTransport('nbiot');
  server.attach(a);
  server.attach(b);
  server.start();
  return { server, a, b, calls: () => calls, tick: (ms: number) => (now += ms) };
}

const req = (mid: number, path: string[], extra: Partial<Parameters<typeof generate>[0]> = {}) =>
  generate({ confirmable: true, code: 'GET', messageId: mid, token: Buffer.from([0xaa]), options: path.map((p) => ({ name: 'Uri-Path', value: Buffer.from(p) })), ...extra });

describe('CoAP message layer', () => {
  it('answers a CON with a piggybacked ACK carrying the same message ID and token', () => {
    const { a } = setup();
    a.deliver(req(100, ['echo', 'x']));
    const r = parse(a.sent[0]!.data);
    expect(r).toMatchObject({ ack: true, code: '2.05', messageId: 100 });
    expect(r.token).toEqual(Buffer.from([0xaa]));
    expect(r.payload.toString()).toBe('call 1 x');
  });

  it('answers a duplicate CON from the cache without running the handler again (§4.5)', () => {
    const { a, calls, server } = setup();
    a.deliver(req(5, ['echo']));
    a.deliver(req(5, ['echo']));
    expect(calls()).toBe(1);
    expect(a.sent).toHaveLength(2);
    expect(a.sent[1]!.data.equals(a.sent[0]!.data)).toBe(true);
    expect(server.stats.duplicates).toBe(1);
    // The same MID from another endpoint is a different exchange.
    a.deliver(req(5, ['echo']), 40001);
    expect(calls()).toBe(2);
  });

  it('replies on the bearer the request came in on', () => {
    const { a, b } = setup();
    b.deliver(req(1, ['echo']));
    expect(a.sent).toHaveLength(0);
    expect(b.sent[0]!.peer.bearer).toBe('nbiot');
  });

  it('answers a NON request with a NON response', () => {
    const { a } = setup();
    a.deliver(generate({ confirmable: false, code: 'GET', messageId: 9, options: [{ name: 'Uri-Path', value: Buffer.from('echo') }] }));
    const r = parse(a.sent[0]!.data);
    expect(r.confirmable || r.ack || r.reset).toBe(false);
    expect(r.code).toBe('2.05');
  });

  it('answers a CoAP ping (Empty CON) and a stray response with RST', () => {
    const { a } = setup();
    a.deliver(Buffer.from([0x40, 0x00, 0x12, 0x34]));
    a.deliver(generate({ confirmable: true, code: '2.05', messageId: 77 }));
    expect(a.sent.map((s) => parse(s.data))).toMatchObject([{ reset: true, messageId: 0x1234 }, { reset: true, messageId: 77 }]);
  });

  it('answers an unknown critical option with 4.02 and an unknown path with 4.04', () => {
    const { a } = setup();
    a.deliver(req(1, ['echo'], { options: [{ name: 'Uri-Path', value: Buffer.from('echo') }, { name: '19', value: Buffer.from([1]) }] }));
    a.deliver(req(2, ['nowhere']));
    expect(a.sent.map((s) => parse(s.data).code)).toEqual(['4.02', '4.04']);
  });

  it('turns a throwing handler into 5.00 and keeps serving', () => {
    const { a, server } = setup();
    a.deliver(req(1, ['boom']));
    a.deliver(req(2, ['echo']));
    expect(a.sent.map((s) => parse(s.data).code)).toEqual(['5.00', '2.05']);
    expect(server.stats.handlerErrors).toBe(1);
  });

  it('rejects a malformed CON with RST and drops other garbage silently', () => {
    const { a, server } = setup();
    a.deliver(Buffer.from([0x40, 0x01, 0x00, 0x09, 0xff]));
    a.deliver(Buffer.from([0x50, 0x01, 0x00, 0x0a, 0xff]));
    a.deliver(Buffer.from([1, 2]));
    expect(a.sent.map((s) => parse(s.data))).toMatchObject([{ reset: true, messageId: 9 }]);
    expect(server.stats.malformed).toBe(3);
  });

  it('drops requests above the per-peer rate until the bucket refills', () => {
    const { a, server, tick } = setup({ ratePerSecond: 2, burst: 3, repliesPerPeer: 4, maxPeers: 100 });
    for (let i = 0; i < 5; i++) a.deliver(req(i, ['echo']));
    expect(a.sent).toHaveLength(3);
    expect(server.stats.rateLimited).toBe(2);
    tick(1000);
    a.deliver(req(10, ['echo']));
    a.deliver(req(11, ['echo']));
    a.deliver(req(12, ['echo']));
    expect(a.sent).toHaveLength(5);
  });

  it('stays under maxPeers when many new endpoints appear', () => {
    const { a, server } = setup({ ratePerSecond: 1000, burst: 1000, repliesPerPeer: 4, maxPeers: 50 });
    for (let p = 0; p < 200; p++) a.deliver(req(1, ['echo']), 20000 + p);
    expect(server.peerCount).toBeLessThanOrEqual(50);
  });

  it('forgets a peer and its cached replies once EXCHANGE_LIFETIME has passed', () => {
    const t = new PeerTable({ ratePerSecond: 10, burst: 10, repliesPerPeer: 2, maxPeers: 100 });
    t.remember('p1', 1, Buffer.from([1]), 0);
    t.remember('p1', 2, Buffer.from([2]), 0);
    t.remember('p1', 3, Buffer.from([3]), 0);
    // Two replies per peer: the oldest was replaced.
    expect([t.cachedReply('p1', 1), t.cachedReply('p1', 3)]).toEqual([undefined, Buffer.from([3])]);
    t.remember('p2', 1, Buffer.from([9]), EXCHANGE_LIFETIME_MS);
    expect(t.sweep(EXCHANGE_LIFETIME_MS + 1)).toBe(1);
    expect(t.size).toBe(1);
    expect(t.cachedReply('p1', 3)).toBeUndefined();
  });
});
