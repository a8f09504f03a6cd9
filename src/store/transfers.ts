/**
 * Transfer progress per device and patch (table `transfers`). Block replies update memory only; rows
 * are written in one transaction every `flushEveryBlocks` blocks or `flushIntervalMs`, and always on
 * flush()/stop(), so thousands of devices cost one fsync per batch and a crash loses at most one
 * batch (the device re-asks from its own offset and the row catches up).
 */
import type { Clock } from '../clock.ts';
import type { Db } from './database.ts';

export type TransferState = 'active' | 'paused' | 'completed' | 'failed' | 'aborted';

export interface TransferRow {
  deviceId: string;
  patchId: string;
  size: number;
  /** Highest contiguous byte offset the device holds (a request for offset o acknowledges [0, o)). */
  offset: number;
  bytesServed: number;
  retries: number;
  state: TransferState;
  bearer: string | null;
  startedAt: number;
  lastSeenAt: number;
}

interface Entry extends TransferRow {
  /** Final status reported since the last offer (column `reported`), null if none. */
  reported: string | null;
  dirty: boolean;
  /** Offset of the last block served, to count re-requests of the same block as retries. */
  lastBlockOffset: number;
}

export interface BlockOutcome {
  row: TransferRow;
  retry: boolean;
  /** True exactly once: when this block completed the transfer. */
  completed: boolean;
}

export interface TransferStoreOptions {
  flushEveryBlocks?: number;
  flushIntervalMs?: number;
  /** Active transfers idle this long are marked aborted (default 7 days). */
  abandonAfterMs?: number;
}

interface RawTransfer {
  device_id: string;
  patch_id: string;
  size: number;
  offset: number;
  bytes_served: number;
  retries: number;
  state: TransferState;
  bearer: string | null;
  started_at: number;
  last_seen_at: number;
  reported: string | null;
}

const fromRaw = (r: RawTransfer): TransferRow => ({
  deviceId: r.device_id,
  patchId: r.patch_id,
  size: r.size,
  offset: r.offset,
  bytesServed: r.bytes_served,
  retries: r.retries,
  state: r.state,
  bearer: r.bearer,
  startedAt: r.started_at,
  lastSeenAt: r.last_seen_at,
});

export class TransferStore {
  private readonly entries = new Map<string, Entry>();
  private pendingBlocks = 0;
  private timer: NodeJS.Timeout | undefined;
  private abandonTimer: NodeJS.Timeout | undefined;
  private readonly abandonAfterMs: number;
  private readonly flushEveryBlocks: number;
  private readonly flushIntervalMs: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    opts: TransferStoreOptions = {},
  ) {
    this.flushEveryBlocks = opts.flushEveryBlocks ?? 256;
    this.flushIntervalMs = opts.flushIntervalMs ?? 2000;
    this.abandonAfterMs = opts.abandonAfterMs ?? 7 * 86_400_000;
  }

  /** Entries held in memory (active transfers, and finished ones until the next flush). */
  get cached(): number {
    return this.entries.size;
  }

  start(): void {
    this.timer = setInterval(() => this.flush(), this.flushIntervalMs);
    this.timer.unref();
    this.abandonTimer = setInterval(() => this.abandonStale(), 3600_000);
    this.abandonTimer.unref();
  }

  /**
   * The abort path: an active transfer whose device has not asked for a block for `abandonAfterMs`
   * becomes 'aborted' (a later block or check-in reactivates it), so nothing stays "downloading" forever.
   * Returns how many rows changed.
   */
  abandonStale(): number {
    this.flush();
    if (!this.db.open) return 0;
    const before = this.clock.now() - this.abandonAfterMs;
    const n = this.db.prepare("UPDATE transfers SET state = 'aborted' WHERE state = 'active' AND last_seen_at < ?").run(before).changes;
    for (const [k, e] of this.entries) if (e.state === 'active' && e.lastSeenAt < before) this.entries.delete(k);
    return n;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.abandonTimer) clearInterval(this.abandonTimer);
    this.timer = undefined;
    this.abandonTimer = undefined;
    this.flush();
    this.entries.clear();
  }

  private key(deviceId: string, patchId: string): string {
    return `${deviceId}\u0000${patchId}`;
  }

  private load(deviceId: string, patchId: string): Entry | undefined {
    const k = this.key(deviceId, patchId);
    let e = this.entries.get(k);
    if (e) return e;
    const r = this.db.prepare('SELECT * FROM transfers WHERE device_id = ? AND patch_id = ?').get(deviceId, patchId) as RawTransfer | undefined;
    if (!r) return undefined;
    e = { ...fromRaw(r), reported: r.reported, dirty: false, lastBlockOffset: -1 };
    this.entries.set(k, e);
    return e;
  }

  /** Creates the row (written at once: a check-in is rare) or reactivates a paused one. */
  begin(deviceId: string, patchId: string, size: number, bearer: string): TransferRow {
    const now = this.clock.now();
    const e = this.load(deviceId, patchId);
    if (e) {
      if (e.state === 'paused' || e.state === 'aborted') {
        e.state = 'active';
        e.dirty = true;
      }
      if (e.reported !== null) {
        e.reported = null; // offered again: a new attempt, whose result counts anew
        e.dirty = true;
      }
      e.bearer = bearer;
      e.lastSeenAt = now;
      return { ...e };
    }
    this.db
      .prepare(
        `INSERT INTO transfers (device_id, patch_id, size, offset, bytes_served, retries, state, bearer, started_at, last_seen_at)
         VALUES (?, ?, ?, 0, 0, 0, 'active', ?, ?, ?) ON CONFLICT (device_id, patch_id) DO NOTHING`,
      )
      .run(deviceId, patchId, size, bearer, now, now);
    return { ...this.load(deviceId, patchId)! };
  }

  /**
   * Records one Block2 reply. The request offset acknowledges everything before it (the device asks
   * for the block at its own offset); serving the final block completes the transfer.
   */
  blockServed(deviceId: string, patchId: string, size: number, bearer: string, offset: number, length: number): BlockOutcome {
    let e = this.load(deviceId, patchId);
    if (!e) {
      this.begin(deviceId, patchId, size, bearer);
      e = this.load(deviceId, patchId)!;
    }
    const retry = offset === e.lastBlockOffset || offset + length <= e.offset;
    e.lastBlockOffset = offset;
    if (retry) e.retries++;
    e.bytesServed += length;
    e.lastSeenAt = this.clock.now();
    e.bearer = bearer;
    if (offset > e.offset && offset <= e.size) e.offset = offset;
    let completed = false;
    if (offset + length >= e.size && e.state !== 'completed') {
      e.offset = e.size;
      e.state = 'completed';
      completed = true;
    } else if (e.state === 'paused' || e.state === 'aborted') {
      e.state = 'active';
    }
    e.dirty = true;
    if (++this.pendingBlocks >= this.flushEveryBlocks) this.flush();
    return { row: { ...e }, retry, completed };
  }

  /** A device's own report of how far it got (POST /r). */
  reportOffset(deviceId: string, patchId: string, offset: number, state?: TransferState): TransferRow | undefined {
    const e = this.load(deviceId, patchId);
    if (!e) return undefined;
    if (offset > e.offset && offset <= e.size) e.offset = offset;
    if (state) e.state = state;
    e.lastSeenAt = this.clock.now();
    e.dirty = true;
    // A report is a state change worth keeping at once (it is rare, unlike blocks).
    this.flush();
    return { ...e };
  }

  /**
   * Records a final result (booted, failed, rolled_back) of this transfer; false when the device
   * already reported exactly that since the patch was last offered (a repeat after a power cut), so the
   * caller counts one result per update. True for an unknown transfer (nothing to dedupe against).
   */
  recordResult(deviceId: string, patchId: string, status: string): boolean {
    const e = this.load(deviceId, patchId);
    if (!e) return true;
    if (e.reported === status) return false;
    e.reported = status;
    e.dirty = true;
    this.flush();
    return true;
  }

  get(deviceId: string, patchId: string): TransferRow | undefined {
    const e = this.load(deviceId, patchId);
    return e ? { ...e } : undefined;
  }

  /** Rows straight from the DB after flushing memory (for CLI and status views). */
  list(filter: { deviceId?: string; state?: TransferState } = {}): TransferRow[] {
    this.flush();
    return listTransfers(this.db, filter);
  }

  /** Writes dirty entries in one transaction; drops idle ones from memory so it does not grow. */
  flush(): void {
    this.pendingBlocks = 0;
    const dirty = [...this.entries.values()].filter((e) => e.dirty);
    if (dirty.length > 0 && this.db.open) {
      const upd = this.db.prepare(
        `UPDATE transfers SET offset = ?, bytes_served = ?, retries = ?, state = ?, bearer = ?, last_seen_at = ?, reported = ? WHERE device_id = ? AND patch_id = ?`,
      );
      this.db.transaction(() => {
        for (const e of dirty) upd.run(e.offset, e.bytesServed, e.retries, e.state, e.bearer, e.lastSeenAt, e.reported, e.deviceId, e.patchId);
      })();
      for (const e of dirty) e.dirty = false;
    }
    // Finished transfers stay a minute (a device often re-asks the last block or reports), active
    // ones ten; after that the row in SQLite is the only copy, so memory tracks live transfers only.
    const now = this.clock.now();
    for (const [k, e] of this.entries) {
      if (!e.dirty && e.lastSeenAt < now - (e.state === 'active' ? 10 * 60_000 : 60_000)) this.entries.delete(k);
    }
  }
}

export function listTransfers(db: Db, filter: { deviceId?: string; state?: TransferState } = {}): TransferRow[] {
  const where: string[] = [];
  const args: string[] = [];
  if (filter.deviceId) {
    where.push('device_id = ?');
    args.push(filter.deviceId);
  }
  if (filter.state) {
    where.push('state = ?');
    args.push(filter.state);
  }
  const sql = `SELECT * FROM transfers${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY last_seen_at DESC`;
  return (db.prepare(sql).all(...args) as RawTransfer[]).map(fromRaw);
}
