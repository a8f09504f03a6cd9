/**
 * Patch bytes for Block2 slicing. BlobStore.get re-hashes the whole file, which is right once and
 * wasteful per block, so verified patches stay in memory, bounded by total bytes (least recently used
 * goes first).
 */
import type { BlobStore } from '../release/blob-store.ts';

export class PatchCache {
  private readonly items = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly blobs: BlobStore,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  get size(): number {
    return this.bytes;
  }

  /** The verified bytes of a patch; throws FurrowError (BLOB_MISSING / BLOB_CORRUPT) when unusable. */
  get(id: string): Buffer {
    const hit = this.items.get(id);
    if (hit) {
      this.items.delete(id);
      this.items.set(id, hit);
      return hit;
    }
    const data = this.blobs.get(id);
    this.items.set(id, data);
    this.bytes += data.length;
    for (const [k, v] of this.items) {
      if (this.bytes <= this.maxBytes || k === id) break;
      this.items.delete(k);
      this.bytes -= v.length;
    }
    return data;
  }

  clear(): void {
    this.items.clear();
    this.bytes = 0;
  }
}
