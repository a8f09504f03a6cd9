import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/database.ts';

/** Every blob the database still points at: release images, patches, delivery tokens, multicast sessions. */
export function referencedBlobs(db: Db): Set<string> {
  const ids = db
    .prepare(
      `SELECT sha256 AS id FROM releases UNION SELECT id FROM patches UNION SELECT patch_id FROM deliveries
       UNION SELECT patch_id FROM lora_mc_sessions`,
    )
    .pluck()
    .all() as string[];
  return new Set(ids);
}

export interface Garbage {
  path: string;
  /** Blob id (SHA-256), or the temp file's name. */
  name: string;
  kind: 'blob' | 'temp';
  bytes: number;
  mtimeMs: number;
}

export interface GcScan {
  garbage: Garbage[];
  bytes: number;
  /** Unreferenced files younger than the grace period: possibly written by the daemon a moment ago. */
  young: number;
  kept: number;
}

const BLOB_NAME = /^[0-9a-f]{64}$/;
// BlobStore.put writes `<sha>.<8 hex>.tmp` and renames it; one left behind is a crash mid-write.
const TEMP_NAME = /^[0-9a-f]{64}\.[0-9a-f]{8}\.tmp$/;

/**
 * Files in the blob store nothing refers to. The daemon stores a blob before the row that names it, so a
 * file younger than `graceMs` is never garbage: it may be a patch whose row is being written right now.
 * Files the store did not write (other names) are never touched.
 */
export function scanGarbage(db: Db, blobDir: string, opts: { now: number; graceMs: number }): GcScan {
  const refs = referencedBlobs(db);
  const scan: GcScan = { garbage: [], bytes: 0, young: 0, kept: 0 };
  let shards: string[];
  try {
    shards = readdirSync(blobDir).filter((d) => /^[0-9a-f]{2}$/.test(d)).sort();
  } catch {
    return scan;
  }
  for (const shard of shards) {
    for (const name of readdirSync(join(blobDir, shard)).sort()) {
      const kind = BLOB_NAME.test(name) ? 'blob' : TEMP_NAME.test(name) ? 'temp' : undefined;
      if (!kind) continue;
      if (kind === 'blob' && refs.has(name)) {
        scan.kept++;
        continue;
      }
      const path = join(blobDir, shard, name);
      const st = statSync(path);
      if (opts.now - st.mtimeMs < opts.graceMs) {
        scan.young++;
        continue;
      }
      scan.garbage.push({ path, name, kind, bytes: st.size, mtimeMs: st.mtimeMs });
      scan.bytes += st.size;
    }
  }
  return scan;
}

/** Deletes what a scan found, re-checking references first (a row may have appeared since). */
export function deleteGarbage(db: Db, scan: GcScan): { files: number; bytes: number } {
  const refs = referencedBlobs(db);
  let files = 0;
  let bytes = 0;
  for (const g of scan.garbage) {
    if (g.kind === 'blob' && refs.has(g.name)) continue;
    try {
      unlinkSync(g.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    files++;
    bytes += g.bytes;
  }
  return { files, bytes };
}
