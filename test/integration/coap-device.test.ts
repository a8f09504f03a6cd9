import { afterEach, describe, expect, it } from 'vitest';
import { decodeBlock } from '../../src/coap/block.ts';
import { configSchema } from '../../src/config/index.ts';
import { decodeCbor } from '../../src/manifest/cbor.ts';
import { verifyManifest } from '../../src/manifest/delivery.ts';
import { readPatchDigests } from '../../src/manifest/patch-header.ts';
import type { TransmitGate, UpdatePolicy } from '../../src/policy.ts';
import { TestDevice } from './coap-device.ts';
import { startHarness, syntheticPatch, type Harness } from './coap-harness.ts';

/** Deterministic loss pattern (mulberry32) so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const transferRow = (h: Harness) =>
  h.db.prepare('SELECT offset, bytes_served, retries, state FROM transfers WHERE device_id = ? AND patch_id = ?').get(h.deviceId, h.patchId) as
    | { offset: number; bytes_served: number; retries: number; state: string }
    | undefined;

describe('a TypeScript device against the CoAP service', () => {
  let h: Harness | undefined;
  const devices: TestDevice[] = [];
  afterEach(async () => {
    for (const d of devices.splice(0)) d.close();
    await h?.stop(true);
    h = undefined;
  });

  async function device(harness: Harness, opts: Partial<ConstructorParameters<typeof TestDevice>[0]> = {}): Promise<TestDevice> {
    const d = new TestDevice({ port: harness.port, id: harness.deviceId, key: harness.deviceKey, ackTimeoutMs: 40, ...opts });
    await d.open();
    devices.push(d);
    return d;
  }

  it('checks in, verifies the manifest, downloads through loss and a server restart, resumes, and reports', async () => {
    h = await startHarness({ patchSize: 30_000, coap: { transfers: { flushEveryBlocks: 8, flushIntervalMs: 60_000 }, progressIntervalMs: 0 } });
    const events: string[] = [];
    const progress: number[] = [];
    const watch = (hh: Harness) => {
      hh.ctx.events.on('transfer.completed', 'test', (e) => void events.push(`completed ${e.deviceId} ${e.size}`));
      hh.ctx.events.on('device.report', 'test', (e) => void events.push(`report ${e.status} ${e.releaseSha256}`));
      hh.ctx.events.on('device.checkin', 'test', (e) => void events.push(`checkin ${e.runningSha256.slice(0, 8)}`));
      hh.ctx.events.on('transfer.progress', 'test', (e) => void progress.push(e.offset));
    };
    watch(h);
    const dev = await device(h, { dropRate: 0.2, random: seeded(42) });

    const { reply, map } = await dev.checkin(h.baseSha256, h.product, [[5, -97], [7, 3600]]);
    expect(reply.code).toBe('2.05');
    expect(map.get(1)).toBe(2);
    expect(map.get(5)).toBe(h.patch.length);
    expect((map.get(8) as Buffer).toString('hex')).toBe(h.patchId);
    const manifestBytes = await dev.getAll(map.get(3) as string);
    const m = verifyManifest(manifestBytes, h.service.gatewayKey.publicKey);
    expect(m.deviceId).toBe(h.deviceId);
    expect(m.product).toBe(h.product);
    expect(m.baseSha256!.toString('hex')).toBe(h.baseSha256);
    expect(m.patchSha256.toString('hex')).toBe(h.patchId);
    expect(m.resultSha256.toString('hex')).toBe(h.targetSha256);
    expect(m.chunkTableDigest.equals(readPatchDigests(h.patch).tableDigest)).toBe(true);

    const patchPath = map.get(4) as string;
    const first = await dev.download(patchPath, { szx: 5, stopAfterBlocks: 30 });
    expect(first.done).toBe(false);
    expect(first.offset).toBe(30 * 512);
    expect(first.etag!.toString('hex')).toBe(h.patchId.slice(0, 16));
    expect(first.size).toBe(h.patch.length);

    await h.restart();
    watch(h);
    // The stop flushed: the row holds the offset of the last block asked for (it acknowledges [0, 29*512)).
    expect(transferRow(h)?.offset).toBe(29 * 512);

    // The device wakes, checks in with its progress, gets the same URIs, and resumes at its own offset.
    const again = await dev.checkin(h.baseSha256, h.product, [[8, [Buffer.from(h.patchId, 'hex'), first.offset]]]);
    expect(again.map.get(4)).toBe(patchPath);
    expect(transferRow(h)?.offset).toBe(first.offset);
    const rest = await dev.download(patchPath, { szx: 5, offset: first.offset });
    expect(rest.done).toBe(true);
    expect(Buffer.concat([first.data, rest.data]).equals(h.patch)).toBe(true);
    expect(dev.retransmissions).toBeGreaterThan(0);

    const rep = await dev.report('applied', [[4, Buffer.from(h.patchId, 'hex')], [5, h.patch.length]]);
    expect(rep.code).toBe('2.04');
    const row = transferRow(h)!;
    expect(row).toMatchObject({ offset: h.patch.length, state: 'completed' });
    // Every byte was served at least once; lost replies were answered again from the duplicate cache.
    expect(row.bytes_served).toBeGreaterThanOrEqual(h.patch.length - first.offset);
    expect(events).toContain(`completed ${h.deviceId} ${h.patch.length}`);
    expect(events).toContain(`report applied ${h.targetSha256}`);
    expect(events.filter((e) => e.startsWith('completed'))).toHaveLength(1);
    // Progress events came during the download (throttle 0 here) and the last one is the full size.
    expect(progress.at(-1)).toBe(h.patch.length);
    expect(progress.length).toBeGreaterThan(10);
    const dbDevice = h.db.prepare('SELECT rsrp, battery, running_sha256, last_counter FROM devices WHERE id = ?').get(h.deviceId) as Record<string, unknown>;
    expect(dbDevice).toMatchObject({ rsrp: null, running_sha256: h.baseSha256, last_counter: dev.counter });
  });

  it('refuses a replayed counter with 4.01 and tells an authentic device the last counter', async () => {
    h = await startHarness();
    const dev = await device(h);
    expect((await dev.checkin(h.baseSha256, h.product)).reply.code).toBe('2.05');
    const replay = await dev.post('c', new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0]]), 1);
    expect(replay.code).toBe('4.01');
    expect((decodeCbor(replay.payload) as Map<number, unknown>).get(1)).toBe(1);
    const jumped = await dev.post('c', new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0]]), 1000);
    expect(jumped.code).toBe('2.05');
  });

  it('answers 4.01 without detail for a wrong key and for an unknown device', async () => {
    h = await startHarness();
    const wrongKey = await device(h, { key: Buffer.alloc(32, 9) });
    const r1 = (await wrongKey.checkin(h.baseSha256, h.product)).reply;
    expect(r1.code).toBe('4.01');
    expect(r1.payload.toString()).toBe('request not authenticated');
    const stranger = await device(h, { id: 'nobody' });
    const r2 = (await stranger.checkin(h.baseSha256, h.product)).reply;
    expect(r2.code).toBe('4.01');
    expect(r2.payload.toString()).toBe('request not authenticated');
  });

  it('gives each device its own URIs and a manifest naming that device', async () => {
    h = await startHarness({ devices: 2 });
    const one = await device(h);
    const two = await device(h, { id: 'probe-2' });
    const a = await one.checkin(h.baseSha256, h.product);
    const b = await two.checkin(h.baseSha256, h.product);
    expect(a.map.get(4)).not.toBe(b.map.get(4));
    const mb = verifyManifest(await two.getAll(b.map.get(3) as string), h.service.gatewayKey.publicKey);
    expect(mb.deviceId).toBe('probe-2');
    expect(mb.sequence).toBeGreaterThan(verifyManifest(await one.getAll(a.map.get(3) as string), h.service.gatewayKey.publicKey).sequence);
  });

  it('offers each device the patch built for the patch format it says it decodes (key 10; none = format 1)', async () => {
    h = await startHarness({ devices: 2 });
    // a second patch of the same move, stored as the build for format-2 devices
    const sizeOf = (sha: string) => (h!.db.prepare('SELECT size FROM releases WHERE sha256 = ?').get(sha) as { size: number }).size;
    const forV2 = syntheticPatch({ size: 20_000, baseSha256: Buffer.from(h.baseSha256, 'hex'), baseSize: sizeOf(h.baseSha256), resultSha256: Buffer.from(h.targetSha256, 'hex'), resultSize: sizeOf(h.targetSha256) });
    const v2Id = h.ctx.blobs.put(forV2);
    h.db
      .prepare("INSERT INTO patches (id, from_sha256, to_sha256, format_cap, kind, size, format_version, created_at) VALUES (?, ?, ?, 2, 'delta', ?, 1, 0)")
      .run(v2Id, h.baseSha256, h.targetSha256, forV2.length);
    const old = await device(h);
    const current = await device(h, { id: 'probe-2' });
    const a = await old.checkin(h.baseSha256, h.product);
    const b = await current.checkin(h.baseSha256, h.product, [[10, 2]]);
    expect(Buffer.from(a.map.get(8) as Uint8Array).toString('hex')).toBe(h.patchId);
    expect(Buffer.from(b.map.get(8) as Uint8Array).toString('hex')).toBe(v2Id);
    const formats = h.db.prepare('SELECT id, patch_format AS f FROM devices ORDER BY id').all();
    expect(formats).toEqual([
      { id: h.deviceId, f: 1 },
      { id: 'probe-2', f: 2 },
    ]);
    // a device that decodes more than any build was made for gets the best one there is
    const future = await current.checkin(h.baseSha256, h.product, [[10, 9]]);
    expect(Buffer.from(future.map.get(8) as Uint8Array).toString('hex')).toBe(v2Id);
    // ...but one that is half-way through the format-1 patch keeps it: no byte is downloaded twice
    const midway = await current.checkin(h.baseSha256, h.product, [[10, 2], [8, [Buffer.from(h.patchId, 'hex'), 4096]]]);
    expect(Buffer.from(midway.map.get(8) as Uint8Array).toString('hex')).toBe(h.patchId);
    // a held patch the device could not decode is not offered again
    const cannot = await old.checkin(h.baseSha256, h.product, [[8, [Buffer.from(v2Id, 'hex'), 4096]]]);
    expect(Buffer.from(cannot.map.get(8) as Uint8Array).toString('hex')).toBe(h.patchId);
    for (const bad of [0, 256, 'two']) {
      const r = await current.post('c', new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 0], [10, bad]]));
      expect(r.code).toBe('4.00');
      expect(r.payload.toString()).toMatch(/key 10 \(patch format\)/);
    }
  });

  it('refuses bad check-in bodies with 4.00 naming the field, and a product mismatch with 4.03', async () => {
    h = await startHarness();
    const dev = await device(h);
    const noSha = await dev.post('c', new Map<number, unknown>([[1, h.product], [3, 0]]));
    expect(noSha.code).toBe('4.00');
    expect(noSha.payload.toString()).toMatch(/key 2/);
    const badSlot = await dev.post('c', new Map<number, unknown>([[1, h.product], [2, Buffer.from(h.baseSha256, 'hex')], [3, 7]]));
    expect(badSlot.payload.toString()).toMatch(/key 3 \(boot slot\)/);
    const other = await dev.checkin(h.baseSha256, 'other-product');
    expect(other.reply.code).toBe('4.03');
    const big = await dev.request('POST', 'c', { payload: Buffer.alloc(900, 1) });
    expect(big.code).toBe('4.13');
    const get = await dev.request('GET', 'c');
    expect(get.code).toBe('4.05');
  });

  it('answers 5.03 with Max-Age when the transmit gate refuses, and "later" when the policy says so', async () => {
    let open = false;
    const gate: TransmitGate = { admit: () => (open ? { ok: true } : { ok: false, retryAfterSeconds: 42.5, reason: 'duty cycle spent' }) };
    let later = true;
    const base: UpdatePolicy = { decide: () => (later ? { kind: 'later', retryAfterSeconds: 900, reason: 'wave 2' } : { kind: 'update', releaseSha256: h!.targetSha256 }) };
    h = await startHarness({ service: { gate, policy: base } });
    const dev = await device(h);
    const c1 = await dev.checkin(h.baseSha256, h.product);
    expect([c1.map.get(1), c1.map.get(2)]).toEqual([1, 900]);
    later = false;
    const c2 = await dev.checkin(h.baseSha256, h.product);
    const refused = await dev.request('GET', c2.map.get(4) as string, { block2: { num: 0, szx: 6 } });
    expect(refused.code).toBe('5.03');
    expect(refused.options.get('Max-Age')).toEqual(Buffer.from([43]));
    expect(transferRow(h)?.bytes_served).toBe(0);
    open = true;
    const ok = await dev.request('GET', c2.map.get(4) as string, { block2: { num: 0, szx: 6 } });
    expect(ok.code).toBe('2.05');
  });

  it('tells a device running the target release that there is nothing to do', async () => {
    h = await startHarness();
    const dev = await device(h);
    const c = await dev.checkin(h.targetSha256, h.product);
    expect(c.map.get(1)).toBe(0);
  });

  it('applies a reloaded block size limit to the next request', async () => {
    h = await startHarness();
    const dev = await device(h);
    const path = (await dev.checkin(h.baseSha256, h.product)).map.get(4) as string;
    const before = await dev.request('GET', path, { block2: { num: 1, szx: 6 } });
    expect(decodeBlock(before.options.get('Block2')!)).toMatchObject({ num: 1, szx: 6 });
    h.service.reload(configSchema.parse({ ...h.config, coap: { ...h.config.coap, maxBlockSize: 256 } }));
    const after = await dev.request('GET', path, { block2: { num: 1, szx: 6 } });
    // RFC 7959 §2.4: same byte offset (1024), smaller blocks.
    expect(decodeBlock(after.options.get('Block2')!)).toMatchObject({ num: 4, szx: 4 });
    expect(after.payload.equals(h.patch.subarray(1024, 1280))).toBe(true);
  });
});
