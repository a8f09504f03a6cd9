import dgram from 'node:dgram';
import { generate } from 'coap-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../../src/coap/auth.ts';
import { encodeCbor } from '../../src/manifest/cbor.ts';
import { TestDevice } from './coap-device.ts';
import { startHarness, type Harness } from './coap-harness.ts';

function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the CoAP server under a flood of random and mutated datagrams', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ patchSize: 60_000 });
  });
  afterAll(async () => h?.stop(true));

  it('keeps serving a concurrent download byte-exact and never fails inside a handler', async () => {
    const r = rng(7);
    const int = (n: number) => Math.floor(r() * n);
    // RFC 7252 default-like patience: on a shared 2-core CI box the flood and the download compete for CPU.
    const dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 250, maxRetransmit: 10 });
    await dev.open();
    const { map } = await dev.checkin(h.baseSha256, h.product);
    const patchPath = map.get(4) as string;
    const token = patchPath.slice(2);

    // Seeds that reach every resource and parser: block requests, check-ins (valid MAC and not), reports.
    const seeds: Buffer[] = [
      generate({ confirmable: true, code: 'GET', messageId: 1, token: Buffer.from([1, 2]), options: [{ name: 'Uri-Path', value: Buffer.from('p') }, { name: 'Uri-Path', value: Buffer.from(token) }, { name: 'Block2', value: Buffer.from([0x26]) }] }),
      generate({ confirmable: true, code: 'GET', messageId: 2, options: [{ name: 'Uri-Path', value: Buffer.from('m') }, { name: 'Uri-Path', value: Buffer.from(token) }] }),
      generate({ confirmable: true, code: 'GET', messageId: 3, options: [{ name: 'Uri-Path', value: Buffer.from('.well-known') }, { name: 'Uri-Path', value: Buffer.from('core') }] }),
      generate({ confirmable: true, code: 'POST', messageId: 4, options: [{ name: 'Uri-Path', value: Buffer.from('c') }], payload: encodeEnvelope(h.deviceKey, 'c', h.deviceId, 1e9, new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0], [8, [Buffer.alloc(32), 5]]])) }),
      generate({ confirmable: false, code: 'POST', messageId: 5, options: [{ name: 'Uri-Path', value: Buffer.from('r') }], payload: encodeEnvelope(h.deviceKey, 'r', h.deviceId, 1, new Map<number, unknown>([[1, 'failed'], [2, 'x'.repeat(130)]])) }),
      generate({ confirmable: true, code: 'POST', messageId: 6, options: [{ name: 'Uri-Path', value: Buffer.from('c') }], payload: encodeCbor(['probe-1', 5, Buffer.from([0xa1, 0x01]), Buffer.alloc(16)]) }),
    ];
    const mutate = (b: Buffer): Buffer => {
      const m = Buffer.from(b);
      switch (int(5)) {
        case 0: for (let i = 0; i < 1 + int(4); i++) { const at = int(m.length); m[at] = m[at]! ^ (1 << int(8)); } return m;
        case 1: return m.subarray(0, int(m.length + 1));
        case 2: { const at = int(m.length); return Buffer.concat([m.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(20) }, () => int(256))), m.subarray(at)]); }
        case 3: m[int(m.length)] = int(256); m[int(m.length)] = [0xff, 0x0d, 0x0e, 0xdf, 0xef][int(5)]!; return m;
        default: return Buffer.concat([m, Buffer.from([0xff]), Buffer.from(Array.from({ length: int(300) }, () => int(256)))]);
      }
    };
    const randomDatagram = (): Buffer => {
      const kind = int(10);
      if (kind < 3) return Buffer.from(Array.from({ length: int(80) }, () => int(256)));
      if (kind === 3) return Buffer.from([0x40 | int(16), int(256), int(256), int(256), ...Array.from({ length: int(40) }, () => int(256))]);
      const m = mutate(seeds[int(seeds.length)]!);
      // Fresh message IDs, or the duplicate cache would answer most of them without parsing further.
      if (m.length >= 4 && r() < 0.9) m.writeUInt16BE(int(0x10000), 2);
      return m;
    };

    const fuzzers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const s = dgram.createSocket('udp4');
        await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
        s.on('message', () => undefined);
        return s;
      }),
    );
    const total = 12_000;
    let sent = 0;
    const flood = (async () => {
      while (sent < total) {
        for (let i = 0; i < 50 && sent < total; i++, sent++) fuzzers[sent % fuzzers.length]!.send(randomDatagram(), h.port, '127.0.0.1');
        await new Promise((res) => setTimeout(res, 4));
      }
    })();
    const download = dev.download(patchPath, { szx: 6 });
    const [, got] = await Promise.all([flood, download]);
    expect(got.data.equals(h.patch)).toBe(true);
    await new Promise((res) => setTimeout(res, 200));
    const stats = h.service.stats!;
    expect(sent).toBe(total);
    expect(stats.received).toBeGreaterThan(total * 0.9);
    expect(stats.malformed).toBeGreaterThan(1000);
    expect(stats.handlerErrors).toBe(0);
    expect(stats.duplicates).toBeLessThan(total * 0.1);
    // Still answering after the flood.
    const after = await dev.request('GET', '.well-known/core');
    expect(after.code).toBe('2.05');
    for (const s of fuzzers) s.close();
    dev.close();
  });
});
