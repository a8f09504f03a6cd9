/**
 * Delivery tokens (table `deliveries`, migration 020): the opaque URI segment that names one device's
 * manifest and patch. 96 random bits, so a device cannot guess another's; with OSCORE the token
 * would additionally be bound to the device's security context (PROTOCOL.md).
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/database.ts';

export interface Delivery {
  seq: number;
  token: string;
  deviceId: string;
  patchId: string;
  releaseSha256: string;
  size: number;
  manifest: Buffer;
  createdAt: number;
}

interface Raw {
  seq: number;
  token: string;
  device_id: string;
  patch_id: string;
  release_sha256: string;
  size: number;
  manifest: Buffer;
  created_at: number;
}

const fromRaw = (r: Raw): Delivery => ({
  seq: r.seq,
  token: r.token,
  deviceId: r.device_id,
  patchId: r.patch_id,
  releaseSha256: r.release_sha256,
  size: r.size,
  manifest: r.manifest,
  createdAt: r.created_at,
});

export const TOKEN_RE = /^[A-Za-z0-9_-]{16}$/;

export class DeliveryRepo {
  /** Token lookups happen on every block; keep them off SQLite. Bounded: oldest entries go first. */
  private readonly byTokenCache = new Map<string, Delivery | null>();

  constructor(
    private readonly db: Db,
    private readonly maxCached = 10_000,
  ) {}

  byToken(token: string): Delivery | undefined {
    if (!TOKEN_RE.test(token)) return undefined;
    const hit = this.byTokenCache.get(token);
    if (hit !== undefined) return hit ?? undefined;
    const r = this.db.prepare('SELECT * FROM deliveries WHERE token = ?').get(token) as Raw | undefined;
    const d = r ? fromRaw(r) : null;
    // Misses are cached too, so a flood of random tokens costs one query each at most once.
    this.cache(token, d);
    return d ?? undefined;
  }

  find(deviceId: string, patchId: string): Delivery | undefined {
    const r = this.db.prepare('SELECT * FROM deliveries WHERE device_id = ? AND patch_id = ?').get(deviceId, patchId) as Raw | undefined;
    return r ? fromRaw(r) : undefined;
  }

  /**
   * The device's delivery for this patch, creating it (and its signed manifest, which needs the
   * sequence number the insert assigns) in one transaction.
   */
  getOrCreate(
    d: { deviceId: string; patchId: string; releaseSha256: string; size: number },
    now: number,
    buildManifest: (seq: number) => Buffer,
  ): Delivery {
    const existing = this.find(d.deviceId, d.patchId);
    if (existing && existing.releaseSha256 === d.releaseSha256) return existing;
    const created = this.db.transaction(() => {
      if (existing) this.db.prepare('DELETE FROM deliveries WHERE seq = ?').run(existing.seq);
      const token = randomBytes(12).toString('base64url');
      const info = this.db
        .prepare('INSERT INTO deliveries (token, device_id, patch_id, release_sha256, size, manifest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(token, d.deviceId, d.patchId, d.releaseSha256, d.size, Buffer.alloc(0), now);
      const seq = Number(info.lastInsertRowid);
      const manifest = buildManifest(seq);
      this.db.prepare('UPDATE deliveries SET manifest = ? WHERE seq = ?').run(manifest, seq);
      return { seq, token, ...d, manifest, createdAt: now };
    })();
    if (existing) this.byTokenCache.delete(existing.token);
    this.cache(created.token, created);
    return created;
  }

  private cache(token: string, d: Delivery | null): void {
    if (this.byTokenCache.size >= this.maxCached) {
      const first = this.byTokenCache.keys().next().value;
      if (first !== undefined) this.byTokenCache.delete(first);
    }
    this.byTokenCache.set(token, d);
  }

  forget(): void {
    this.byTokenCache.clear();
  }
}
