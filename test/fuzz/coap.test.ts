/**
 * Fuzzing the CoAP server: valid requests of every kind (authenticated check-in and report, Block2 patch
 * and manifest GETs, discovery, ping) mutated byte-wise plus random datagrams, first in-process through
 * a memory bearer attached to the real CoapService, then as UDP datagrams at the running server while a
 * device downloads its patch. Nothing may throw, no resource handler may fail (a handler error is a crash
 * turned into 5.00), every reply must be a well-formed CoAP message, and the download must finish intact.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { generate } from 'coap-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatagramTransport, PeerAddress } from '../../src/bearer/types.ts';
import { encodeEnvelope } from '../../src/coap/auth.ts';
import { encodeBlock } from '../../src/coap/block.ts';
import { decodeMessage } from '../../src/coap/message.ts';
import { startHarness, type Harness } from '../integration/coap-harness.ts';
import { TestDevice } from '../integration/coap-device.ts';
import { applyMutations, checkTyped, fcParams, inputArb, mutationArb, printTallies, RUNS, tally } from './harness.ts';

afterAll(() => printTallies('CoAP fuzzing'));

/** A bearer that lives in memory: the test injects datagrams and reads replies synchronously. */
class MemoryBearer implements DatagramTransport {
  readonly name = 'fuzz-mem';
  readonly kind = 'udp' as const;
  readonly maxDatagram = 1280;
  replies: Buffer[] = [];
  private handler: ((d: Buffer, p: PeerAddress) => void) | undefined;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(data: Buffer): Promise<void> {
    this.replies.push(data);
  }
  onMessage(h: (d: Buffer, p: PeerAddress) => void): void {
    this.handler = h;
  }
  inject(d: Buffer, port: number): void {
    this.handler!(d, { address: '10.9.9.9', port, bearer: this.name });
  }
}

const uriPath = (p: string) => p.split('/').filter(Boolean).map((seg) => ({ name: 'Uri-Path', value: Buffer.from(seg) }));

function request(code: 'GET' | 'POST', path: string, extra: Array<{ name: string; value: Uint8Array }> = [], payload: Uint8Array = new Uint8Array(0), confirmable = true): Buffer {
  const opts = extra.map((o) => ({ name: o.name, value: Buffer.from(o.value) }));
  return generate({ confirmable, code, messageId: 0x1234, token: Buffer.from([1, 2, 3, 4]), options: [...uriPath(path), ...opts], payload: Buffer.from(payload) });
}

describe('fuzzing the CoAP server', () => {
  let h: Harness;
  let mem: MemoryBearer;
  let token: string;
  let samples: Buffer[];
  let counter = 100;

  beforeAll(async () => {
    h = await startHarness({ patchSize: 30_000, coap: { rateLimit: { perSecond: 100000, burst: 100000 } } });
    mem = new MemoryBearer();
    await h.service.addTransport(mem);
    const dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey });
    await dev.open();
    const { map } = await dev.checkin(h.baseSha256, h.product);
    dev.close();
    counter = dev.counter + 1;
    expect(map.get(1)).toBe(2);
    token = String(map.get(4)).split('/')[1]!;
    const checkinBody = new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0], [8, [Buffer.from(h.patchId, 'hex'), 1024]]]);
    samples = [
      request('POST', 'c', [{ name: 'Content-Format', value: Buffer.from([60]) }], encodeEnvelope(h.deviceKey, 'c', h.deviceId, 5_000_000, checkinBody)),
      request('POST', 'r', [{ name: 'Content-Format', value: Buffer.from([60]) }], encodeEnvelope(h.deviceKey, 'r', h.deviceId, 5_000_001, new Map<number, unknown>([[1, 'ok'], [2, Buffer.from(h.targetSha256, 'hex')]]))),
      request('GET', `p/${token}`, [{ name: 'Block2', value: encodeBlock({ num: 3, more: false, szx: 4 }) }, { name: 'Size2', value: Buffer.alloc(0) }]),
      request('GET', `m/${token}`, [{ name: 'Block2', value: encodeBlock({ num: 0, more: false, szx: 6 }) }]),
      request('GET', '.well-known/core'),
      request('GET', `p/${token}`, [], Buffer.alloc(0), false),
      Buffer.from([0x40, 0x00, 0x12, 0x34]),
    ];
  }, 60_000);

  afterAll(async () => {
    await h?.stop(true);
  });

  it('answers every mutated or random datagram in-process without a crash or a failed handler', () => {
    const t = tally('CoAP datagram (in-process, memory bearer)');
    const stats = h.service.stats!;
    const handlerErrors = stats.handlerErrors;
    let port = 20000;
    fc.assert(
      fc.property(inputArb(samples, { maxRandom: 300 }), (b) => {
        mem.replies = [];
        // A fresh peer per input: rate limits and duplicate caches must not hide a handler from the input.
        checkTyped(t, [], b, () => mem.inject(b, (port = port >= 60000 ? 20000 : port + 1)));
        for (const r of mem.replies) decodeMessage(r);
      }),
      fcParams(RUNS * 2),
    );
    expect(stats.handlerErrors - handlerErrors).toBe(0);
    expect(t.crashes).toBe(0);
  });

  it('handles hostile datagrams: reserved token lengths, option floods, huge Block2 numbers, giant payloads', () => {
    const t = tally('CoAP datagram (hand-made hostile)');
    const hostile = [
      Buffer.from([0x4f, 0x01, 0, 1]),
      Buffer.concat([Buffer.from([0x40, 0x01, 0, 2]), Buffer.alloc(1000, 0x0d)]),
      request('GET', `p/${token}`, [{ name: 'Block2', value: Buffer.from([0xff, 0xff, 0xf6]) }]),
      request('GET', `p/${token}`, [{ name: 'Block2', value: Buffer.from([0xff, 0xff, 0xf7]) }]),
      request('GET', `p/${token}`, [{ name: 'Block2', value: Buffer.from([0x01, 0x02, 0x03, 0x04]) }]),
      request('GET', `p/${'../'.repeat(40)}`),
      request('GET', `p/${token}/extra/segments`),
      request('GET', 'p/' + 'z'.repeat(250)),
      request('POST', 'c', [], Buffer.alloc(1100, 0x9f)),
      request('POST', 'c', [{ name: 'Block1', value: Buffer.from([0x0e]) }], Buffer.alloc(64, 1)),
      request('POST', 'c', [{ name: 'Content-Format', value: Buffer.from([0, 0, 0, 60]) }], Buffer.from('84', 'hex')),
      request('POST', 'c', [], encodeEnvelope(Buffer.alloc(32), 'c', 'x'.repeat(64), 1, new Map())),
      request('POST', 'c', [], Buffer.from('846470726f62651bffffffffffffffff4040', 'hex')),
      request('POST', 'r', [], encodeEnvelope(h.deviceKey, 'r', h.deviceId, 9_000_000, new Map<number, unknown>([[1, 'x'.repeat(500)]]))),
      request('POST', 'c', [], encodeEnvelope(h.deviceKey, 'c', h.deviceId, 9_000_001, new Map<number, unknown>([[1, h.product], [2, Buffer.alloc(32)], [3, 0], [8, [Buffer.alloc(32), Number.MAX_SAFE_INTEGER]]]))),
      request('POST', 'c', [], encodeEnvelope(h.deviceKey, 'c', h.deviceId, 9_000_002, new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 1], [8, [Buffer.from(h.patchId, 'hex'), 2 ** 40]]]))),
      request('GET', `p/${token}`, Array.from({ length: 60 }, () => ({ name: '2048', value: randomBytes(8) }))),
      request('GET', `m/${token}`, [{ name: 'Accept', value: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]) }]),
    ];
    const handlerErrors = h.service.stats!.handlerErrors;
    let port = 61000;
    for (const b of hostile) {
      mem.replies = [];
      checkTyped(t, [], b, () => mem.inject(b, port++));
      for (const r of mem.replies) decodeMessage(r);
    }
    expect(h.service.stats!.handlerErrors - handlerErrors).toBe(0);
    expect(t.crashes).toBe(0);
  });

  it('finishes a download over UDP intact while mutated datagrams hit the same server', async () => {
    const t = tally('CoAP datagram (UDP flood during a download)');
    const dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 50 });
    await dev.open();
    dev.counter = counter + 1000;
    const flood = dgram.createSocket('udp4');
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', () => r()));
    flood.on('message', (m) => {
      // Whatever the server answers the fuzzer must itself be a well-formed CoAP message.
      checkTyped(t, [], m, () => decodeMessage(m));
    });
    const inputs = fc.sample(fc.tuple(fc.integer({ min: 0, max: samples.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 4 })), { numRuns: Math.max(200, RUNS), seed: 99 }).map(([i, m]) => applyMutations(samples[i]!, m));
    let sent = 0;
    let stop = false;
    const pump = (async () => {
      while (!stop && sent < inputs.length) {
        for (let k = 0; k < 20 && sent < inputs.length; k++) flood.send(inputs[sent++]!, h.port, '127.0.0.1');
        await new Promise((r) => setImmediate(r));
      }
    })();
    const handlerErrors = h.service.stats!.handlerErrors;
    const got = await dev.download(`p/${token}`, { szx: 4 });
    stop = true;
    await pump;
    // Send the rest so the full count is always exercised, then make sure the server still answers.
    while (sent < inputs.length) flood.send(inputs[sent++]!, h.port, '127.0.0.1');
    const again = await dev.request('GET', '.well-known/core');
    flood.close();
    dev.close();
    t.tried += sent;
    t.accepted += sent;
    expect(got.done).toBe(true);
    expect(got.data.equals(h.patch)).toBe(true);
    expect(again.code).toBe('2.05');
    expect(h.service.stats!.handlerErrors - handlerErrors).toBe(0);
    expect(t.crashes).toBe(0);
  });
});
