/**
 * A gateway data dir as `release add` + `delta build` + `devices add` leave it, written straight into a real
 * SQLite file and blob store: two releases of soil-probe, a furrow patch between them, devices on the old one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { syntheticPatch } from './coap-harness.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();

export interface Seeded {
  product: string;
  baseSha256: string;
  targetSha256: string;
  patch: Buffer;
  patchId: string;
  deviceKey: Buffer;
}

export function seedDataDir(dataDir: string, opts: { devices?: string[]; patchSize?: number } = {}): Seeded {
  const db = openDatabase(join(dataDir, 'furrow.db'));
  const blobs = new BlobStore(join(dataDir, 'blobs'));
  const product = 'soil-probe';
  const base = randomBytes(4096);
  const target = randomBytes(8192);
  const now = Date.now();
  const releases = new ReleaseRepo(db);
  const rel = (image: Buffer, version: string, addedAt: number) => {
    const id = blobs.put(image);
    releases.insert({ sha256: id, product, version, secureVersion: 1, size: image.length, chip: 'esp32', appVersion: version, projectName: 'probe', idfVersion: 'v5.1', buildDate: null, signature: null, signer: null, addedAt });
    return id;
  };
  const baseSha256 = rel(base, '1.0.0', now - 1000);
  const targetSha256 = rel(target, '1.1.0', now);
  const patch = syntheticPatch({ size: opts.patchSize ?? 8192, baseSha256: sha(base), baseSize: base.length, resultSha256: sha(target), resultSize: target.length });
  const patchId = blobs.put(patch);
  db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, baseSha256, targetSha256, patch.length, now);
  const deviceKey = Buffer.alloc(32, 7);
  const devices = new DeviceRepo(db);
  for (const id of opts.devices ?? ['probe-1']) devices.add({ id, product, deviceKey, runningSha256: baseSha256 }, now);
  db.close();
  return { product, baseSha256, targetSha256, patch, patchId, deviceKey };
}
