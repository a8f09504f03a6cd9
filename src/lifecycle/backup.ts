/**
 * `furrow backup`: one ustar archive (src/lifecycle/tar.ts) holding a consistent copy of a gateway's data
 * dir, taken while the daemon runs. The database is copied with SQLite's online backup API (a snapshot of
 * one committed state, WAL frames included, without stopping writers); the blobs it references are
 * content-addressed and never rewritten, so copying them after the snapshot gives the same state. The
 * manifest `furrow-backup.json` (last member) lists every file with its SHA-256 for `furrow restore`.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, lstatSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { FurrowError } from '../errors.ts';
import type { Db } from '../store/database.ts';
import { referencedBlobs } from './gc.ts';
import { TarWriter } from './tar.ts';

export const MANIFEST_NAME = 'furrow-backup.json';
export const BACKUP_FORMAT = 'furrow-backup';

export interface ManifestFile {
  name: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: 1;
  createdAt: string;
  gateway: string;
  schemaVersion: number;
  files: ManifestFile[];
}

export interface BackupResult {
  file: string;
  files: number;
  bytes: number;
  databaseBytes: number;
  blobs: number;
  schemaVersion: number;
  /** Blobs the database references that were not in the blob store (the source was already damaged). */
  missingBlobs: string[];
  /** Blobs whose bytes no longer match their name: left out, the restore would refuse them. */
  corruptBlobs: string[];
}

export interface BackupProgress {
  files: number;
  of: number;
  bytes: number;
}

export async function backupDataDir(
  db: Db,
  paths: { dir: string; blobs: string },
  out: string,
  opts: { gatewayId: string; now: number; onProgress?: (p: BackupProgress) => void },
): Promise<BackupResult> {
  const tag = randomBytes(4).toString('hex');
  const snapshot = join(dirname(out), `.${basename(out)}.${tag}.db`);
  const partial = join(dirname(out), `.${basename(out)}.${tag}.partial`);
  try {
    // All pages in one step: one read transaction, so a daemon committing meanwhile (WAL: it is not blocked)
    // cannot restart the copy, as it would between the default 100-page steps.
    await db.backup(snapshot, { progress: () => 0x7fffffff });
    const snap = new Database(snapshot, { readonly: true });
    let refs: Set<string>;
    let schemaVersion: number;
    try {
      refs = referencedBlobs(snap);
      schemaVersion = snap.pragma('user_version', { simple: true }) as number;
    } finally {
      snap.close();
    }
    const entries: Array<{ name: string; path: string }> = [{ name: 'furrow.db', path: snapshot }];
    const missingBlobs: string[] = [];
    for (const id of [...refs].sort()) {
      const path = join(paths.blobs, id.slice(0, 2), id);
      if (existsSync(path)) entries.push({ name: `blobs/${id.slice(0, 2)}/${id}`, path });
      else missingBlobs.push(id);
    }
    // The gateway's manifest-signing key: devices were provisioned with its public half.
    const keysDir = join(paths.dir, 'keys');
    if (existsSync(keysDir)) {
      for (const k of readdirSync(keysDir).sort()) {
        if (lstatSync(join(keysDir, k)).isFile()) entries.push({ name: `keys/${k}`, path: join(keysDir, k) });
      }
    }
    const fd = openSync(partial, 'wx', 0o600);
    const files: ManifestFile[] = [];
    const corruptBlobs: string[] = [];
    let bytes = 0;
    try {
      const tar = new TarWriter(fd);
      for (const [i, e] of entries.entries()) {
        const st = statSync(e.path);
        const r = tar.addFile(e.name, e.path, st.mode, st.mtimeMs, st.size);
        const id = e.name.startsWith('blobs/') ? basename(e.name) : undefined;
        if (id && r.sha256 !== id) corruptBlobs.push(id);
        files.push({ name: e.name, size: r.size, sha256: r.sha256, mode: st.mode & 0o777 });
        bytes += r.size;
        opts.onProgress?.({ files: i + 1, of: entries.length, bytes });
      }
      const manifest: BackupManifest = { format: BACKUP_FORMAT, version: 1, createdAt: new Date(opts.now).toISOString(), gateway: opts.gatewayId, schemaVersion, files };
      tar.addBuffer(MANIFEST_NAME, Buffer.from(JSON.stringify(manifest, null, 1) + '\n'));
      tar.finish();
    } finally {
      closeSync(fd);
    }
    renameSync(partial, out);
    return {
      file: out,
      files: files.length,
      bytes,
      databaseBytes: files[0]!.size,
      blobs: files.filter((f) => f.name.startsWith('blobs/')).length,
      schemaVersion,
      missingBlobs,
      corruptBlobs,
    };
  } catch (err) {
    rmSync(partial, { force: true });
    if (err instanceof FurrowError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new FurrowError('BACKUP_FAILED', `cannot write backup ${out}: ${code ?? (err as Error).message}`, {
      hint: code === 'ENOSPC' ? 'the disk is full: write the backup elsewhere' : 'check that the directory exists and is writable',
      cause: err,
    });
  } finally {
    rmSync(snapshot, { force: true });
    rmSync(`${snapshot}-wal`, { force: true });
    rmSync(`${snapshot}-shm`, { force: true });
  }
}
