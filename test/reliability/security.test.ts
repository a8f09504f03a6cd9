/**
 * Security claims of SECURITY.md that no module test proves on its own: per-peer rate limiting of a
 * flood, bounded amplification for requests without credentials, replayed datagrams after a gateway
 * restart, and the duplicate cache never answering a new request (NAT rebinding, spoofed MID) with
 * another request's reply.
 */
import dgram from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../src/coap/auth.ts';
import { encodeCbor } from '../../src/manifest/cbor.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { startHarness, type Harness } from '../integration/coap-harness.ts';

type Sock = dgram.Socket & { replies: Buffer[] };

async function socket(): Promise<Sock> {
  const s = dgram.createSocket('udp4') as Sock;
  s.replies = [];
  s.on('message', (m) => s.replies.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));
const path = (p: string) => p.split('/').filter(Boolean).map((v) => ({ name: 'Uri-Path', value: Buffer.from(v) }));

describe('security properties of the CoAP server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ coap: { rateLimit: { perSecond: 20, burst: 40 } } });
  });
  afterAll(async () => {
    await h.stop(true);
  });

  it('drops a flood from one peer beyond its burst and rate, and keeps serving other peers', async () => {
    const flood = await socket();
    const other = await socket();
    const before = h.service.stats!.rateLimited;
    for (let i = 0; i < 400; i++) flood.send(generate({ confirmable: true, code: 'GET', messageId: i, token: Buffer.from([i & 0xff]), options: path('.well-known/core') }), h.port, '127.0.0.1');
    await settle(300);
    other.send(generate({ confirmable: true, code: 'GET', messageId: 7, token: Buffer.from([7]), options: path('.well-known/core') }), h.port, '127.0.0.1');
    await settle(200);
    // burst 40 + 20/s for well under a second: far fewer than 400 answered
    expect(flood.replies.length).toBeGreaterThanOrEqual(40);
    expect(flood.replies.length).toBeLessThan(40 + 20 * 2);
    expect(h.service.stats!.rateLimited - before).toBeGreaterThan(300);
    expect(other.replies.length).toBe(1);
    flood.close();
    other.close();
  });

  it('answers requests without credentials with at most 12 times their size and 256 bytes (UDP amplification)', async () => {
    const s = await socket();
    const probes: Array<[string, Buffer]> = [
      ['ping', Buffer.from([0x40, 0x00, 0x00, 0x01])],
      ['discovery', generate({ confirmable: true, code: 'GET', messageId: 2, token: Buffer.alloc(0), options: path('.well-known/core') })],
      ['unknown path', generate({ confirmable: true, code: 'GET', messageId: 3, token: Buffer.alloc(0), options: path('x') })],
      ['patch, bad token', generate({ confirmable: true, code: 'GET', messageId: 4, token: Buffer.alloc(0), options: path('p/AAAAAAAAAAAAAAAA') })],
      ['check-in, bad MAC', generate({ confirmable: true, code: 'POST', messageId: 5, token: Buffer.alloc(0), options: path('c'), payload: encodeEnvelope(Buffer.alloc(32), 'c', h.deviceId, 1, new Map()) })],
      ['check-in, garbage', generate({ confirmable: true, code: 'POST', messageId: 6, token: Buffer.alloc(0), options: path('c'), payload: Buffer.from([0xff, 0x00]) })],
    ];
    const factors: string[] = [];
    for (const [name, req] of probes) {
      s.replies = [];
      s.send(req, h.port, '127.0.0.1');
      await settle(100);
      const out = s.replies.reduce((a, r) => a + r.length, 0);
      factors.push(`${name}: ${req.length} B → ${out} B (${(out / req.length).toFixed(1)}x)`);
    }
    console.log(`amplification without credentials: ${factors.join('; ')}`);
    for (const [name, req] of probes) {
      s.replies = [];
      s.send(req, h.port, '127.0.0.1');
      await settle(100);
      const out = s.replies.reduce((a, r) => a + r.length, 0);
      expect(out, name).toBeLessThanOrEqual(Math.min(256, 12 * req.length));
    }
    s.close();
  });

  it('refuses authenticated datagrams replayed after a gateway restart, and they change nothing', async () => {
    const s = await socket();
    const send = async (p: string, mid: number, payload: Buffer) => {
      s.replies = [];
      s.send(generate({ confirmable: true, code: 'POST', messageId: mid, token: Buffer.from([mid & 0xff]), options: path(p), payload }), h.port, '127.0.0.1');
      await settle();
      return parse(s.replies[0]!).code;
    };
    const devices = new DeviceRepo(h.db);
    const c0 = (devices.key(h.deviceId)?.lastCounter ?? 0) + 10;
    const checkin = encodeEnvelope(h.deviceKey, 'c', h.deviceId, c0, new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0]]));
    const failed = encodeEnvelope(h.deviceKey, 'r', h.deviceId, c0 + 1, new Map<number, unknown>([[1, 'failed'], [2, 'self-test'], [4, Buffer.from(h.patchId, 'hex')]]));
    expect(await send('c', 300, checkin)).toBe('2.05');
    expect(await send('r', 301, failed)).toBe('2.04');
    const lastResult = devices.get(h.deviceId)!.lastResult;
    const counter = devices.key(h.deviceId)!.lastCounter;
    // An attacker recorded both datagrams and replays them after the gateway restarted (empty duplicate
    // cache), with fresh MIDs so they are not mistaken for retransmissions.
    await h.restart();
    const after = new DeviceRepo(h.db);
    expect(await send('c', 400, checkin)).toBe('4.01');
    expect(await send('r', 401, failed)).toBe('4.01');
    expect(after.key(h.deviceId)!.lastCounter).toBe(counter);
    expect(after.get(h.deviceId)!.lastResult).toBe(lastResult);
    s.close();
  });

  it('never answers a new request (same address, port and MID, other token) with the cached reply of another', async () => {
    const s = await socket();
    // First "device" behind a NAT mapping asks for discovery.
    s.send(generate({ confirmable: true, code: 'GET', messageId: 4242, token: Buffer.from('aaaa'), options: path('.well-known/core') }), h.port, '127.0.0.1');
    await settle();
    // The NAT hands the same public address:port to a second device whose MID happens to collide.
    const body = encodeCbor(new Map([[1, 'x']]));
    s.send(generate({ confirmable: true, code: 'POST', messageId: 4242, token: Buffer.from('bbbb'), options: path('c'), payload: body }), h.port, '127.0.0.1');
    await settle();
    expect(s.replies).toHaveLength(2);
    const second = parse(s.replies[1]!);
    expect(Buffer.from(second.token).toString()).toBe('bbbb');
    expect(second.code).toBe('4.00');
    // A true retransmission (same token) is still answered from the cache, not processed again.
    const dups = h.service.stats!.duplicates;
    s.send(generate({ confirmable: true, code: 'POST', messageId: 4242, token: Buffer.from('bbbb'), options: path('c'), payload: body }), h.port, '127.0.0.1');
    await settle();
    expect(h.service.stats!.duplicates).toBe(dups + 1);
    expect(parse(s.replies[2]!).token.toString()).toBe('bbbb');
    s.close();
  });
});
