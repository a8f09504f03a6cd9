/**
 * Builds and stores the patch for one move (base image → release): the delta when it saves at least
 * `minSavingsPercent` against the full image, else the full image (itself a base-size-0 furrow patch).
 * Shared by the daemon's patch cache and `furrow delta build`.
 */
import { FurrowError, InputError } from '../errors.ts';
import type { BlobStore } from '../release/blob-store.ts';
import type { Db } from '../store/database.ts';
import { PatchRepo, type PatchRow } from '../store/patches.ts';
import { ReleaseRepo } from '../store/releases.ts';
import type { DeltaConfig } from './config.ts';
import { FORMAT_VERSION, parsePatchHeader } from './format.ts';
import { BuildWorker } from './off-thread.ts';

export interface BuildProgress {
  phase: 'full' | 'diff' | 'compress' | 'store';
  /** 0..1 over the whole build. */
  fraction: number;
}

export interface BuildResult {
  row: PatchRow;
  /** True when nothing was built because a current row already existed. */
  cached: boolean;
}

export class PatchBuilder {
  readonly patches: PatchRepo;
  private readonly releases: ReleaseRepo;
  private readonly worker = new BuildWorker();

  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly config: () => DeltaConfig,
    private readonly now: () => number,
  ) {
    this.patches = new PatchRepo(db);
    this.releases = new ReleaseRepo(db);
  }

  /** The stand-alone full-image patch of a release, built once. */
  async full(toSha256: string, onProgress?: (p: BuildProgress) => void): Promise<PatchRow> {
    const existing = this.patches.full(toSha256);
    if (existing && this.blobs.has(existing.id)) return existing;
    const newImg = this.image(toSha256, 'target');
    const t0 = this.now();
    // encoded and verified (applied, compared) on a worker thread
    const patch = await this.worker.encode(new Uint8Array(0), newImg, {
      maxBodyLen: this.config().stagingBytes,
      chunkSize: this.config().chunkBytes,
      onProgress: (d, t) => onProgress?.({ phase: 'full', fraction: d / t }),
    });
    return this.store(patch, '', toSha256, 1, 'full', { deltaSize: null, fullSize: patch.length, buildMs: this.now() - t0 });
  }

  /**
   * The patch for a device on `fromSha256` to reach `toSha256` that decodes patch formats up to
   * `formatCap` (default and upper limit: `delta.formatVersion`). A base that is not a stored release
   * (so no bytes to diff against) gets the full image. `force` rebuilds even when a row exists.
   */
  async build(fromSha256: string, toSha256: string, opts: { formatCap?: number; force?: boolean; onProgress?: (p: BuildProgress) => void } = {}): Promise<BuildResult> {
    const formatCap = this.effectiveCap(opts.formatCap);
    const cur = this.patches.get(fromSha256, toSha256, formatCap);
    if (cur && !opts.force && this.blobs.has(cur.id)) return { row: cur, cached: true };
    const report = opts.onProgress ?? (() => undefined);
    const full = await this.full(toSha256, (p) => report({ phase: 'full', fraction: 0.2 * p.fraction }));
    if (fromSha256 === toSha256) throw new InputError('DELTA_SAME_IMAGE', `base and target are the same image ${toSha256.slice(0, 12)}: nothing to build`);
    const baseKnown = this.releases.get(fromSha256) !== undefined && this.blobs.has(fromSha256);
    if (!baseKnown) {
      const row = { ...full, fromSha256, formatCap, createdAt: this.now() };
      this.patches.put(row);
      return { row, cached: false };
    }
    const oldImg = this.image(fromSha256, 'base');
    const newImg = this.image(toSha256, 'target');
    const t0 = this.now();
    report({ phase: 'diff', fraction: 0.2 });
    const delta = await this.worker.encode(oldImg, newImg, {
      maxBodyLen: this.config().stagingBytes,
      chunkSize: this.config().chunkBytes,
      formatVersion: formatCap === 1 ? 1 : 2,
      onProgress: (d, t) => report({ phase: 'compress', fraction: 0.5 + 0.45 * (d / t) }),
    });
    report({ phase: 'store', fraction: 0.95 });
    const limit = full.size * (1 - this.config().minSavingsPercent / 100);
    const meta = { deltaSize: delta.length, fullSize: full.size, buildMs: this.now() - t0 };
    const row =
      delta.length <= limit
        ? this.store(delta, fromSha256, toSha256, formatCap, 'delta', meta)
        : (() => {
            const r: PatchRow = { ...full, fromSha256, formatCap, createdAt: this.now(), ...meta };
            this.patches.put(r);
            return r;
          })();
    report({ phase: 'store', fraction: 1 });
    return { row, cached: false };
  }

  /** Ends the build worker thread (builds still running are rejected). */
  close(): Promise<void> {
    return this.worker.close();
  }

  private image(sha256: string, role: string): Buffer {
    if (!this.releases.get(sha256)) {
      throw new InputError('DELTA_UNKNOWN_RELEASE', `${role} image ${sha256.slice(0, 12)} is not a stored release`, { hint: 'add it with `furrow release add`' });
    }
    try {
      return this.blobs.get(sha256);
    } catch (err) {
      throw new FurrowError('DELTA_IMAGE_MISSING', `${role} image ${sha256.slice(0, 12)} is a release but its bytes cannot be read`, {
        hint: 'the blob store lost or damaged the file: re-add the release',
        cause: err,
      });
    }
  }

  /** The format cap a build uses: what the devices decode, never above `delta.formatVersion` or what this encoder writes. */
  effectiveCap(deviceCap?: number): number {
    return Math.max(1, Math.min(deviceCap ?? FORMAT_VERSION, this.config().formatVersion, FORMAT_VERSION));
  }

  private store(patch: Buffer, fromSha256: string, toSha256: string, formatCap: number, kind: 'delta' | 'full', meta: Pick<PatchRow, 'deltaSize' | 'fullSize' | 'buildMs'>): PatchRow {
    const h = parsePatchHeader(patch);
    const id = this.blobs.put(patch);
    const row: PatchRow = {
      id,
      fromSha256,
      toSha256,
      formatCap,
      kind,
      size: patch.length,
      formatVersion: h.formatVersion,
      createdAt: this.now(),
      tableDigest: h.tableDigest,
      chunkCount: h.chunkCount,
      ...meta,
    };
    this.patches.put(row);
    return row;
  }
}
