/**
 * esp_delta_ota patches for HTTP devices: built on first demand (bsdiff matches off the event loop,
 * then the detools heatshrink encoder), stored as blobs, listed in http_delta_patches. One build at a
 * time; a device asking meanwhile is told to come back (503 + Retry-After).
 */
import { Worker } from 'node:worker_threads';
import type { Clock } from '../clock.ts';
import { bsdiffMatches } from '../delta/bsdiff.ts';
import { ESP_DELTA_OTA_HEATSHRINK } from '../delta/detools/heatshrink.ts';
import type { Match } from '../delta/matches.ts';
import type { Logger } from '../log.ts';
import type { BlobStore } from '../release/blob-store.ts';
import type { Db } from '../store/database.ts';

/** The codec of every patch built here: detools sequential, heatshrink window 8 / lookahead 7 (esp_delta_ota's static decoder). */
export const ESP_DELTA_CODEC = `detools-heatshrink-w${ESP_DELTA_OTA_HEATSHRINK.windowBits}-l${ESP_DELTA_OTA_HEATSHRINK.lookaheadBits}`;

export interface DeltaPatchRow {
  fromSha256: string;
  toSha256: string;
  codec: string;
  patchSha256: string;
  size: number;
  buildMs: number;
  createdAt: number;
}

export class EspDeltaPatches {
  private readonly building = new Set<string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get(fromSha256: string, toSha256: string): DeltaPatchRow | undefined {
    const r = this.db
      .prepare('SELECT from_sha256 AS fromSha256, to_sha256 AS toSha256, codec, patch_sha256 AS patchSha256, size, build_ms AS buildMs, created_at AS createdAt FROM http_delta_patches WHERE from_sha256 = ? AND to_sha256 = ? AND codec = ?')
      .get(fromSha256, toSha256, ESP_DELTA_CODEC) as DeltaPatchRow | undefined;
    return r && this.blobs.has(r.patchSha256) ? r : undefined;
  }

  list(): DeltaPatchRow[] {
    return this.db.prepare('SELECT from_sha256 AS fromSha256, to_sha256 AS toSha256, codec, patch_sha256 AS patchSha256, size, build_ms AS buildMs, created_at AS createdAt FROM http_delta_patches ORDER BY created_at').all() as DeltaPatchRow[];
  }

  isBuilding(fromSha256: string, toSha256: string): boolean {
    return this.building.has(`${fromSha256}>${toSha256}`);
  }

  /** Queues a build unless one for this move is queued or stored. */
  request(fromSha256: string, toSha256: string): void {
    const key = `${fromSha256}>${toSha256}`;
    if (this.building.has(key) || this.get(fromSha256, toSha256)) return;
    this.building.add(key);
    this.chain = this.chain
      .then(() => this.build(fromSha256, toSha256))
      .catch((err: unknown) => this.log.error({ from: fromSha256.slice(0, 12), to: toSha256.slice(0, 12), err }, 'esp_delta_ota patch build failed'))
      .finally(() => this.building.delete(key));
  }

  /** Resolves when queued builds are done (stop() waits for it so the DB is not closed under one). */
  idle(): Promise<void> {
    return this.chain;
  }

  private async build(fromSha256: string, toSha256: string): Promise<void> {
    const t0 = this.clock.monotonic();
    const base = this.blobs.get(fromSha256);
    const next = this.blobs.get(toSha256);
    const matches = await bsdiffMatches(base, next);
    const file = await encodeOffThread(base, next, matches);
    const id = this.blobs.put(file);
    const ms = Math.round(this.clock.monotonic() - t0);
    if (!this.db.open) return;
    this.db
      .prepare('INSERT OR REPLACE INTO http_delta_patches (from_sha256, to_sha256, codec, patch_sha256, size, build_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(fromSha256, toSha256, ESP_DELTA_CODEC, id, file.length, ms, this.clock.now());
    this.log.info({ from: fromSha256.slice(0, 12), to: toSha256.slice(0, 12), size: file.length, fullSize: next.length, ms, codec: ESP_DELTA_CODEC }, 'esp_delta_ota patch ready');
  }
}

const WORKER_URL = new URL('./delta-worker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');

/** Runs delta-worker.ts once (workers do not inherit tsx's loader: it is registered first). */
function encodeOffThread(base: Buffer, next: Buffer, matches: Match[]): Promise<Buffer> {
  const boot = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); })`;
  const w = new Worker(boot, { eval: true, workerData: { base, next, matches } });
  return new Promise((resolve, reject) => {
    let out: Buffer | undefined;
    w.once('message', (m: Uint8Array) => (out = Buffer.from(m.buffer, m.byteOffset, m.byteLength)));
    w.once('error', reject);
    w.once('exit', (code) => (out ? resolve(out) : reject(new Error(`esp_delta_ota build worker exited with code ${code} before it answered`))));
  });
}
