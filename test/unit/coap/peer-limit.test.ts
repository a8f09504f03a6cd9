import { describe, expect, it } from 'vitest';
import type { DatagramTransport, PeerAddress } from '../../../src/bearer/types.ts';
import { szxForPayload } from '../../../src/coap/block.ts';
import { GET } from '../../../src/coap/codes.ts';
import { bearerSzx, block2Reply, peerPayloadLimit } from '../../../src/coap/respond.ts';
import type { CoapRequest } from '../../../src/coap/server.ts';
import { MeteredTransport } from '../../../src/schedule/metered-transport.ts';

/** A bearer whose peers differ in frame size, like LoRa devices at different data rates. */
function transport(maxDatagram: number, perPeer?: Record<string, number>): DatagramTransport {
  const t: DatagramTransport = {
    name: 'x',
    kind: 'lora',
    maxDatagram,
    start: async () => {},
    stop: async () => {},
    send: async () => {},
    onMessage: () => {},
  };
  if (perPeer) t.maxPayloadFor = (p: PeerAddress) => perPeer[p.address]!;
  return t;
}

const request = (t: DatagramTransport, address: string, block2?: Buffer): CoapRequest => ({
  msg: { type: 'CON', code: GET, messageId: 1, token: Buffer.alloc(0), options: block2 ? [{ number: 23, value: block2 }] : [], payload: Buffer.alloc(0) },
  peer: { address, port: 20, bearer: 'x' },
  transport: t,
  rest: [],
});

describe('per-peer block size (DatagramTransport.maxPayloadFor)', () => {
  it('picks the largest block that fits a payload limit', () => {
    expect(szxForPayload(32)).toBe(1);
    expect(szxForPayload(96)).toBe(2);
    expect(szxForPayload(223)).toBe(3);
    expect(szxForPayload(5000)).toBe(6);
    expect(szxForPayload(10)).toBe(0);
  });

  it('caps the SZX by the peer limit when the transport has one, and by maxDatagram alone otherwise', () => {
    const t = transport(242, { slow: 32, mid: 96, fast: 223 });
    expect(bearerSzx(request(t, 'slow'), 6)).toBe(1);
    expect(bearerSzx(request(t, 'mid'), 6)).toBe(2);
    expect(bearerSzx(request(t, 'fast'), 6)).toBe(3);
    expect(bearerSzx(request(t, 'fast'), 2)).toBe(2); // configuration still caps
    const plain = transport(1152);
    expect(peerPayloadLimit(request(plain, 'a'))).toBeUndefined();
    expect(bearerSzx(request(plain, 'a'), 6)).toBe(6);
  });

  it('serves a slow peer smaller blocks than it asked for, starting at the byte it asked for', () => {
    const t = transport(242, { slow: 32 });
    const data = Buffer.from(Array.from({ length: 500 }, (_, i) => i & 0xff));
    const req = request(t, 'slow', Buffer.from([(1 << 4) | 3])); // block 1 of 128 bytes = offset 128
    const out = block2Reply(req, data, { contentFormat: 42, etag: Buffer.alloc(8), maxSzx: bearerSzx(req, 6), block: { num: 1, more: false, szx: 3 } });
    expect(out.offset).toBe(128);
    expect(out.length).toBe(32);
    expect(out.res.payload!.equals(data.subarray(128, 160))).toBe(true);
    const b2 = out.res.options!.find((o) => o.number === 23)!.value;
    expect(b2[0]).toBe((4 << 4) | 8 | 1); // num 4, more, SZX 1
  });

  it('keeps the per-peer limit when the bearer is wrapped by the scheduler meter', () => {
    const sched = { charge: () => {}, meter: () => {}, mayTransmit: () => true };
    const wrapped = new MeteredTransport(transport(242, { slow: 32 }), sched as never);
    expect(wrapped.maxPayloadFor?.({ address: 'slow', port: 20, bearer: 'x' })).toBe(32);
    expect(bearerSzx(request(wrapped, 'slow'), 6)).toBe(1);
    expect(new MeteredTransport(transport(1152), sched as never).maxPayloadFor).toBeUndefined();
  });
});
