/**
 * The patch cache on a real SQLite file and blob store: builds on release.added from every image the
 * fleet runs, falls back to the full image, builds on request one at a time, catches up after a restart.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { parseConfigText } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { applyPatch, parseChunkTable, parsePatchHeader } from '../../src/delta/index.ts';
import { DeltaService } from '../../src/delta/service.ts';
import { EventBus, type FurrowEvents } from '../../src/events.ts';
import { silentLogger } from '../../src/log.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { PatchRepo } from '../../src/store/patches.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { tempDir } from '../helpers/tmp.ts';
import { editedPair, prng } from '../unit/delta/fixtures.ts';

let tmp: ReturnType<typeof tempDir>;
let ctx: DaemonContext;
const services: DeltaService[] = [];

function context(deltaYaml = ''): DaemonContext {
  const dataDir = join(tmp.dir, 'data');
  const config = parseConfigText(`data: { dir: ${JSON.stringify(dataDir)} }\n${deltaYaml}`, join(tmp.dir, 'furrow.yaml'));
  const log = silentLogger();
  return { config, configFile: join(tmp.dir, 'furrow.yaml'), log, db: openDatabase(join(dataDir, 'furrow.db'), { skipIntegrityCheck: true }), blobs: new BlobStore(join(dataDir, 'blobs')), events: new EventBus(log), clock: systemClock };
}

let addedAt = 1;
function addRelease(c: DaemonContext, version: string, img: Buffer): string {
  const sha256 = c.blobs.put(img);
  new ReleaseRepo(c.db).insert({ sha256, product: 'probe', version, secureVersion: 0, size: img.length, chip: 'esp32', appVersion: null, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: addedAt++ });
  return sha256;
}

/** `data` as an ESP-IDF app image (magic 0xE9, one segment at 0x3F400020): a base with pointer windows, so patches are v2. */
function appImage(data: Buffer): Buffer {
  const h = Buffer.alloc(32);
  h[0] = 0xe9;
  h[1] = 1;
  h.writeUInt32LE(0x3f400020, 24);
  h.writeUInt32LE(data.length, 28);
  return Buffer.concat([h, data]);
}

async function service(c: DaemonContext): Promise<DeltaService> {
  const s = new DeltaService(c);
  services.push(s);
  await s.start();
  return s;
}

beforeEach(() => {
  tmp = tempDir();
  ctx = context();
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  if (ctx.db.open) ctx.db.close();
  tmp.cleanup();
});

describe('patch cache service', () => {
  const { oldImg, newImg } = editedPair(41, 60_000);

  it('builds the delta from every running image when a release is added, and serves it', async () => {
    const v1 = addRelease(ctx, '1.0', oldImg);
    const devices = new DeviceRepo(ctx.db);
    devices.add({ id: 'd1', product: 'probe', runningSha256: v1 }, 1);
    devices.add({ id: 'd2', product: 'probe', runningSha256: v1 }, 1);
    const s = await service(ctx);
    const ready: Array<FurrowEvents['patch.ready']> = [];
    ctx.events.on('patch.ready', 'test', (e) => void ready.push(e));
    const v2 = addRelease(ctx, '1.1', newImg);
    expect(s.get(v1, v2, 2)).toBeUndefined();
    ctx.events.emit('release.added', { product: 'probe', version: '1.1', sha256: v2, size: newImg.length });
    await s.idle();
    const info = s.get(v1, v2, 2)!;
    expect(info).toMatchObject({ kind: 'delta', fromSha256: v1, toSha256: v2 });
    const patch = ctx.blobs.get(info.id);
    expect(patch.length).toBe(info.size);
    expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
    expect(ready).toEqual([{ fromSha256: v1, toSha256: v2, patchId: info.id, kind: 'delta', size: info.size }]);
    const row = new PatchRepo(ctx.db).get(v1, v2, 1)!;
    expect(row.tableDigest).toBe(parsePatchHeader(patch).tableDigest);
    expect(row.fullSize).toBeGreaterThan(row.size);
  });

  it('cuts chunks at delta.chunkBytes of output, recorded in the header (battery fleets: smaller chunks)', async () => {
    ctx.db.close();
    ctx = context('delta: { chunkBytes: 16384 }');
    const v1 = addRelease(ctx, '1.0', oldImg);
    const v2 = addRelease(ctx, '1.1', newImg);
    const s = await service(ctx);
    s.request(v1, v2, 2);
    await s.idle();
    const patch = ctx.blobs.get(s.get(v1, v2, 2)!.id);
    const h = parsePatchHeader(patch);
    expect(h.chunkSize).toBe(16384);
    expect(parseChunkTable(h, patch).every((e) => e.outputLength <= 16384)).toBe(true);
    expect(h.chunkCount).toBeGreaterThanOrEqual(Math.ceil(newImg.length / 16384));
    expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
  });

  it('serves the full image to a device whose running image is not a stored release', async () => {
    const s = await service(ctx);
    const v2 = addRelease(ctx, '1.1', newImg);
    const factory = 'ab'.repeat(32);
    s.request(factory, v2, 2);
    await s.idle();
    const info = s.get(factory, v2, 2)!;
    expect(info).toMatchObject({ kind: 'full', fromSha256: null, toSha256: v2 });
    const patch = ctx.blobs.get(info.id);
    expect(parsePatchHeader(patch).full).toBe(true);
    expect(applyPatch(new Uint8Array(0), patch).equals(newImg)).toBe(true);
  });

  it('serves the full image when the delta saves less than minSavingsPercent', async () => {
    ctx.db.close();
    ctx = context('delta: { minSavingsPercent: 100 }');
    const v1 = addRelease(ctx, '1.0', oldImg);
    const v2 = addRelease(ctx, '1.1', newImg);
    const s = await service(ctx);
    s.request(v1, v2, 2);
    await s.idle();
    expect(s.get(v1, v2, 2)!.kind).toBe('full');
    const row = new PatchRepo(ctx.db).get(v1, v2, 2)!;
    expect(row.deltaSize).toBeGreaterThan(0);
    expect(row.deltaSize).toBeLessThan(row.size);
  });

  it('queues one build per move, however often devices ask, and runs builds one at a time', async () => {
    const v1 = addRelease(ctx, '1.0', oldImg);
    const v2 = addRelease(ctx, '1.1', newImg);
    const v3 = addRelease(ctx, '1.2', prng(5, 40_000));
    const s = await service(ctx);
    await s.idle(); // the start-up catch-up (full image of the newest release)
    for (let i = 0; i < 5; i++) s.request(v1, v2, 2);
    s.request(v1, v3, 2);
    s.request(v2, v3, 2);
    expect(s.pending).toBe(3);
    await s.idle();
    expect(s.get(v1, v2, 2)).toBeDefined();
    expect(s.get(v1, v3, 2)).toBeDefined();
    expect(s.get(v2, v3, 2)).toBeDefined();
    expect(s.get(v3, v3, 2)).toBeUndefined();
  });

  it('builds v2 patches for app images, and serves a v1 build instead when delta.formatVersion is lowered to 1', async () => {
    const [oldApp, newApp] = [appImage(oldImg), appImage(newImg)];
    const v1 = addRelease(ctx, '1.0', oldApp);
    const v2 = addRelease(ctx, '1.1', newApp);
    let s = await service(ctx);
    s.request(v1, v2, 2);
    await s.idle();
    const built = s.get(v1, v2, 2)!;
    expect(parsePatchHeader(ctx.blobs.get(built.id)).formatVersion).toBe(2);
    expect(new PatchRepo(ctx.db).get(v1, v2, 2)!.formatVersion).toBe(2);
    await s.stop();
    services.splice(0);
    ctx.db.close();

    ctx = context('delta: { formatVersion: 1 }');
    s = await service(ctx);
    await s.idle();
    expect(s.get(v1, v2, 2)).toBeUndefined(); // the stored v2 patch is never offered to a v1 fleet
    s.request(v1, v2, 2);
    await s.idle();
    const rebuilt = s.get(v1, v2, 2)!;
    const patch = ctx.blobs.get(rebuilt.id);
    expect(parsePatchHeader(patch).formatVersion).toBe(1);
    expect(new PatchRepo(ctx.db).get(v1, v2, 1)!.formatVersion).toBe(1);
    expect(new PatchRepo(ctx.db).get(v1, v2, 2)!.id).toBe(built.id); // kept for when the fleet is set to 2 again
    expect(applyPatch(oldApp, patch).equals(newApp)).toBe(true);
  });

  it('builds one patch per patch format the fleet on a base decodes, and serves each device its own', async () => {
    const [oldApp, newApp] = [appImage(oldImg), appImage(newImg)];
    const v1 = addRelease(ctx, '1.0', oldApp);
    const devices = new DeviceRepo(ctx.db);
    devices.add({ id: 'old-firmware', product: 'probe', runningSha256: v1 }, 1);
    devices.add({ id: 'new-firmware', product: 'probe', runningSha256: v1 }, 1);
    devices.recordCheckin('old-firmware', { runningSha256: v1 }, 2);
    devices.recordCheckin('new-firmware', { runningSha256: v1, patchFormat: 2 }, 2);
    const s = await service(ctx);
    const v2 = addRelease(ctx, '1.1', newApp);
    ctx.events.emit('release.added', { product: 'probe', version: '1.1', sha256: v2, size: newApp.length });
    await s.idle();
    const [forOld, forNew] = [s.get(v1, v2, 1)!, s.get(v1, v2, 2)!];
    expect(parsePatchHeader(ctx.blobs.get(forOld.id)).formatVersion).toBe(1);
    expect(parsePatchHeader(ctx.blobs.get(forNew.id)).formatVersion).toBe(2);
    expect(forNew.size).toBeLessThanOrEqual(forOld.size);
    for (const p of [forOld, forNew]) expect(applyPatch(oldApp, ctx.blobs.get(p.id)).equals(newApp)).toBe(true);
    expect(devices.lowestPatchFormat(['old-firmware', 'new-firmware'])).toBe(1);
    expect(devices.lowestPatchFormat(['new-firmware'])).toBe(2);
  });

  it('builds what the newest release still lacks after a restart', async () => {
    const v1 = addRelease(ctx, '1.0', oldImg);
    const v2 = addRelease(ctx, '1.1', newImg);
    new DeviceRepo(ctx.db).add({ id: 'd1', product: 'probe', runningSha256: v1 }, 1);
    const s = await service(ctx);
    await s.idle();
    expect(s.get(v1, v2, 2)?.kind).toBe('delta');
  });

  it('stops with builds queued: the running one finishes, the rest are dropped and nothing half-written is served', async () => {
    const v1 = addRelease(ctx, '1.0', oldImg);
    const v2 = addRelease(ctx, '1.1', newImg);
    const v3 = addRelease(ctx, '1.2', prng(6, 30_000));
    const s = await service(ctx);
    s.request(v1, v2, 2);
    s.request(v1, v3, 2);
    await s.stop();
    expect(s.pending).toBe(0);
    // the start-up catch-up (full image of 1.2) was running and finished; the two requests were dropped
    expect(new PatchRepo(ctx.db).full(v3)).toBeDefined();
    expect(s.get(v1, v2, 2)).toBeUndefined();
    expect(s.get(v1, v3, 2)).toBeUndefined();
    for (const r of new PatchRepo(ctx.db).list()) expect(ctx.blobs.has(r.id)).toBe(true);
    s.request(v1, v2, 2);
    expect(s.pending).toBe(0);
  });
});
