/**
 * Patch cache: builds patches ahead of time (on `release.added`, from every image the product's fleet
 * runs) and on request, one build at a time so a burst of releases cannot starve the gateway. Serves
 * as the daemon's PatchProvider: `get` only reads the store, never blocks.
 */
import PQueue from 'p-queue';
import type { DaemonContext } from '../context.ts';
import { errorMessage } from '../errors.ts';
import type { FurrowEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { PatchInfo, PatchProvider } from '../policy.ts';
import type { Service } from '../service.ts';
import { DeviceRepo } from '../store/devices.ts';
import type { PatchRow } from '../store/patches.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { PatchBuilder } from './builder.ts';

const FAILURE_BACKOFF_MS = 10 * 60 * 1000;

function info(r: PatchRow): PatchInfo {
  return { id: r.id, size: r.size, kind: r.kind, fromSha256: r.kind === 'full' ? null : r.fromSha256, toSha256: r.toSha256 };
}

export class DeltaService implements Service, PatchProvider {
  readonly name = 'delta';
  private readonly log: Logger;
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly queued = new Set<string>();
  /** Moves whose build failed, with when: not retried for FAILURE_BACKOFF_MS (each check-in would retry). */
  private readonly failed = new Map<string, number>();
  private builder: PatchBuilder | undefined;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.log.child({ module: 'delta' });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.builder = new PatchBuilder(this.ctx.db, this.ctx.blobs, () => this.ctx.config.delta, () => this.ctx.clock.now());
    this.unsubscribe = this.ctx.events.on('release.added', 'delta', (e) => this.onRelease(e));
    // Builds queued before a restart were lost with the process: queue what the newest releases still lack.
    if (this.ctx.config.delta.buildOnRelease) {
      const releases = new ReleaseRepo(this.ctx.db);
      const products = new Set(releases.list().map((r) => r.product));
      for (const p of products) {
        const latest = releases.latest(p);
        if (latest) this.planFor(p, latest.sha256);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.queue.clear();
    this.queued.clear();
    // A build already running finishes (bsdiff cannot be interrupted) so no half-written row is left.
    await this.queue.onIdle();
    await this.builder?.close();
  }

  /** Number of builds waiting or running (tests and status). */
  get pending(): number {
    return this.queue.size + this.queue.pending;
  }

  /** Resolves when every queued build has finished. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }

  get(fromSha256: string, toSha256: string, formatCap: number, heldId?: string): PatchInfo | undefined {
    const builder = this.builder;
    if (!builder || fromSha256 === toSha256) return undefined;
    const row = builder.patches.best(fromSha256, toSha256, builder.effectiveCap(formatCap), heldId);
    return row && this.ctx.blobs.has(row.id) ? info(row) : undefined;
  }

  request(fromSha256: string, toSha256: string, formatCap: number): void {
    if (fromSha256 === toSha256) return;
    this.enqueue(fromSha256, toSha256, formatCap);
  }

  private onRelease(e: FurrowEvents['release.added']): void {
    if (!this.ctx.config.delta.buildOnRelease) return;
    this.planFor(e.product, e.sha256);
  }

  private planFor(product: string, toSha256: string): void {
    const bases = new DeviceRepo(this.ctx.db).runningImageFormats(product).filter((b) => b.sha256 !== toSha256);
    this.log.info({ product, to: toSha256.slice(0, 12), bases: new Set(bases.map((b) => b.sha256)).size }, 'planning patches for release');
    this.enqueue('', toSha256, 1);
    for (const b of bases) this.enqueue(b.sha256, toSha256, b.patchFormat);
  }

  private enqueue(fromSha256: string, toSha256: string, deviceCap: number): void {
    const builder = this.builder;
    // devices that decode more than the fleet setting allows share the capped build
    const formatCap = builder ? builder.effectiveCap(deviceCap) : 1;
    const key = `${fromSha256}>${toSha256}@${formatCap}`;
    if (this.stopped || this.queued.has(key)) return;
    const failedAt = this.failed.get(key);
    if (failedAt !== undefined && this.ctx.clock.monotonic() - failedAt < FAILURE_BACKOFF_MS) return;
    const existing = builder?.patches.get(fromSha256, toSha256, formatCap);
    if (existing && this.ctx.blobs.has(existing.id)) return;
    this.queued.add(key);
    void this.queue.add(async () => {
      try {
        if (!(await this.buildOne(fromSha256, toSha256, formatCap))) this.failed.set(key, this.ctx.clock.monotonic());
        else this.failed.delete(key);
      } finally {
        this.queued.delete(key);
      }
    });
  }

  /** Builds one move; false when it failed (logged). */
  private async buildOne(fromSha256: string, toSha256: string, formatCap: number): Promise<boolean> {
    const builder = this.builder;
    if (!builder || this.stopped) return true;
    const log = this.log.child({ from: fromSha256.slice(0, 12) || 'full', to: toSha256.slice(0, 12), formatCap });
    const t0 = Date.now();
    let lastLogged = 0;
    try {
      const onProgress = (p: { fraction: number }) => {
        const pct = Math.floor(p.fraction * 100);
        if (pct >= lastLogged + 25) {
          lastLogged = pct;
          const elapsed = Date.now() - t0;
          log.debug({ percent: pct, etaMs: p.fraction > 0 ? Math.round((elapsed / p.fraction) * (1 - p.fraction)) : undefined }, 'building patch');
        }
      };
      if (fromSha256 === '') {
        const row = await builder.full(toSha256, onProgress);
        log.info({ id: row.id.slice(0, 12), size: row.size, ms: Date.now() - t0 }, 'full-image patch ready');
        return true;
      }
      const { row } = await builder.build(fromSha256, toSha256, { formatCap, onProgress });
      log.info({ id: row.id.slice(0, 12), kind: row.kind, size: row.size, deltaSize: row.deltaSize, fullSize: row.fullSize, ms: Date.now() - t0 }, 'patch ready');
      this.ctx.events.emit('patch.ready', { fromSha256, toSha256, patchId: row.id, kind: row.kind, size: row.size });
      return true;
    } catch (err) {
      log.error({ error: errorMessage(err) }, 'patch build failed; devices are told to come back later');
      return false;
    }
  }
}
