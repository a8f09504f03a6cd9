import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FurrowError } from '../errors.ts';

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Content-addressed files under `<dataDir>/blobs/ab/abcdef...`. Writes go to a temp file, are fsynced
 * and renamed into place, so a power cut leaves either the whole blob or none; a blob's name is its
 * SHA-256, so a torn or tampered file is detected on read.
 */
export class BlobStore {
  constructor(readonly dir: string) {}

  path(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new FurrowError('BLOB_BAD_ID', `not a SHA-256 hex digest: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  has(sha256: string): boolean {
    return existsSync(this.path(sha256));
  }

  size(sha256: string): number {
    return statSync(this.path(sha256)).size;
  }

  /** Stores bytes; returns their SHA-256. Storing the same bytes twice is a no-op. */
  put(data: Uint8Array): string {
    const sha = sha256Hex(data);
    const dest = this.path(sha);
    if (existsSync(dest)) return sha;
    mkdirSync(join(this.dir, sha.slice(0, 2)), { recursive: true });
    const tmp = `${dest}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, dest);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        /* temp file may not exist */
      }
      const code = (err as NodeJS.ErrnoException).code;
      throw new FurrowError('BLOB_WRITE', `cannot store blob ${sha.slice(0, 12)} in ${this.dir}: ${code ?? (err as Error).message}`, {
        hint: code === 'ENOSPC' ? 'the disk is full: free space under the data directory and retry' : 'check permissions of the data directory',
        cause: err,
      });
    }
    return sha;
  }

  /** Reads a blob and checks it still hashes to its name. */
  get(sha256: string): Buffer {
    let data: Buffer;
    try {
      data = readFileSync(this.path(sha256));
    } catch (err) {
      throw new FurrowError('BLOB_MISSING', `blob ${sha256.slice(0, 12)} is missing from ${this.dir}`, { cause: err });
    }
    if (sha256Hex(data) !== sha256) {
      throw new FurrowError('BLOB_CORRUPT', `blob ${sha256.slice(0, 12)} in ${this.dir} does not match its digest`, {
        hint: 'the file was damaged on disk; re-add the release or rebuild the patch',
      });
    }
    return data;
  }
}
