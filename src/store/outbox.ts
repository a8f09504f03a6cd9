import type { Db } from './database.ts';

/**
 * What a bounded outbox may drop when the backhaul has been down for long: `progress` first, then `state`
 * (a later state message supersedes it anyway); `result` (update outcomes, halts, drop notices) never.
 */
export type OutboxKind = 'progress' | 'state' | 'result';

export interface NewOutboxMessage {
  topic: string;
  /** A JSON object; the outbox adds `seq` in front when it goes on the wire. */
  payload: Record<string, unknown>;
  retain?: boolean;
  kind: OutboxKind;
}

export interface OutboxMessage {
  seq: number;
  topic: string;
  /** JSON text as stored (without seq); see `wirePayload`. */
  payload: string;
  retain: boolean;
  kind: OutboxKind;
  createdAt: number;
}

/** Wall times before this (2024-01-01) come from a clock not yet set, not from real events. */
export const PLAUSIBLE_WALL_MS = Date.UTC(2024, 0, 1);

export interface OutboxBounds {
  maxRows: number;
  maxAgeMs: number;
}

export interface PruneResult {
  progress: number;
  state: number;
  /** Lowest and highest sequence number dropped (gaps consumers will see). */
  fromSeq: number | null;
  toSeq: number | null;
}

interface RawRow {
  seq: number;
  topic: string;
  payload: string;
  retain: number;
  kind: OutboxKind;
  created_at: number;
}

/**
 * The telemetry outbox: every event is a row before it is a packet. Rows are appended in one process-local
 * order (AUTOINCREMENT seq, never reused even after deletes), read back in seq order, and marked sent only
 * when the broker acknowledged them. Any process with the DB open (daemon or CLI) may append.
 */
export class Outbox {
  private readonly insert;
  private readonly selectPending;
  private readonly markStmt;
  private readonly countPending;
  private readonly oldestStmt;
  private readonly metaGet;
  private readonly metaAdd;
  private readonly metaMax;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO outbox (topic, payload, retain, kind, created_at) VALUES (?, ?, ?, ?, ?)');
    this.selectPending = db.prepare(
      'SELECT seq, topic, payload, retain, kind, created_at FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.markStmt = db.prepare('UPDATE outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL');
    this.countPending = db.prepare('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL');
    this.oldestStmt = db.prepare('SELECT seq, created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1');
    this.metaGet = db.prepare('SELECT value FROM outbox_meta WHERE key = ?');
    this.metaAdd = db.prepare(
      'INSERT INTO outbox_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value',
    );
    this.metaMax = db.prepare(
      'INSERT INTO outbox_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)',
    );
  }

  /** Appends one message and returns its sequence number. Committed (WAL) before this returns. */
  enqueue(msg: NewOutboxMessage, now: number): number {
    const info = this.insert.run(msg.topic, JSON.stringify(msg.payload), msg.retain ? 1 : 0, msg.kind, now);
    return Number(info.lastInsertRowid);
  }

  /**
   * Queues an empty retained message, which deletes the broker's retained copy of `topic` (MQTT 5 §3.3.1.3,
   * 3.1.1 §3.3.1.3). A result, so a bounded outbox never drops it: a removed device's last state would
   * otherwise stay on the broker for good.
   */
  clearRetained(topic: string, now: number): number {
    return Number(this.insert.run(topic, '', 1, 'result', now).lastInsertRowid);
  }

  /**
   * Appends a message, or when an unsent one on the same topic is still waiting, rewrites that one with
   * `merge(previous)` instead. For notices (drop reports) that must not themselves grow without bound.
   */
  enqueueOrMerge(topic: string, kind: OutboxKind, merge: (previous: Record<string, unknown> | undefined) => Record<string, unknown>, now: number): number {
    return this.db.transaction(() => {
      const prev = this.db
        .prepare('SELECT seq, payload FROM outbox WHERE topic = ? AND sent_at IS NULL ORDER BY seq DESC LIMIT 1')
        .get(topic) as { seq: number; payload: string } | undefined;
      if (!prev) return this.enqueue({ topic, kind, payload: merge(undefined) }, now);
      this.db.prepare('UPDATE outbox SET payload = ? WHERE seq = ?').run(JSON.stringify(merge(JSON.parse(prev.payload) as Record<string, unknown>)), prev.seq);
      return prev.seq;
    })();
  }

  /** Unsent messages with seq above `afterSeq`, oldest first. */
  pending(afterSeq: number, limit: number): OutboxMessage[] {
    return (this.selectPending.all(afterSeq, limit) as RawRow[]).map((r) => ({
      seq: r.seq,
      topic: r.topic,
      payload: r.payload,
      retain: r.retain === 1,
      kind: r.kind,
      createdAt: r.created_at,
    }));
  }

  /** Called on PUBACK. Marking and the high-water mark are one transaction. */
  markSent(seq: number, now: number): void {
    this.db.transaction(() => {
      this.markStmt.run(now, seq);
      this.metaMax.run('last_acked_seq', seq);
    })();
  }

  depth(): number {
    return (this.countPending.get() as { n: number }).n;
  }

  oldestPending(): { seq: number; createdAt: number } | undefined {
    const r = this.oldestStmt.get() as { seq: number; created_at: number } | undefined;
    return r ? { seq: r.seq, createdAt: r.created_at } : undefined;
  }

  lastAckedSeq(): number {
    return this.meta('last_acked_seq');
  }

  droppedTotal(): number {
    return this.meta('dropped_total');
  }

  /**
   * Enforces the bounds on unsent rows: first by age (progress and state older than maxAge; see
   * PLAUSIBLE_WALL_MS for clocks not yet set), then by count
   * (oldest progress, then oldest state). Results are never dropped, so a long outage may leave more than
   * maxRows if every pending row is a result; their number is bounded by the fleet's update count.
   */
  prune(bounds: OutboxBounds, now: number): PruneResult {
    const result: PruneResult = { progress: 0, state: 0, fromSeq: null, toSeq: null };
    const note = (kind: 'progress' | 'state', rows: Array<{ seq: number }>) => {
      if (rows.length === 0) return;
      result[kind] += rows.length;
      // RETURNING gives no order guarantee, so take the range over all rows.
      let lo = Infinity;
      let hi = -Infinity;
      for (const r of rows) {
        if (r.seq < lo) lo = r.seq;
        if (r.seq > hi) hi = r.seq;
      }
      result.fromSeq = result.fromSeq === null ? lo : Math.min(result.fromSeq, lo);
      result.toSeq = result.toSeq === null ? hi : Math.max(result.toSeq, hi);
    };
    this.db.transaction(() => {
      // A Pi has no RTC: rows written before NTP set the clock carry 1970 timestamps and would all look
      // ancient afterwards. Age is judged only between plausible wall times; the row bound still holds.
      if (now >= PLAUSIBLE_WALL_MS) {
        for (const kind of ['progress', 'state'] as const) {
          note(
            kind,
            this.db
              .prepare('DELETE FROM outbox WHERE sent_at IS NULL AND kind = ? AND created_at < ? AND created_at >= ? RETURNING seq')
              .all(kind, now - bounds.maxAgeMs, PLAUSIBLE_WALL_MS) as Array<{ seq: number }>,
          );
        }
      }
      for (const kind of ['progress', 'state'] as const) {
        const excess = this.depth() - bounds.maxRows;
        if (excess <= 0) break;
        note(
          kind,
          this.db
            .prepare(
              'DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL AND kind = ? ORDER BY seq LIMIT ?) RETURNING seq',
            )
            .all(kind, excess) as Array<{ seq: number }>,
        );
      }
      const dropped = result.progress + result.state;
      if (dropped > 0) this.metaAdd.run('dropped_total', dropped);
    })();
    return result;
  }

  /** Deletes acknowledged rows older than `before` (kept a while so status can show recent traffic). */
  purgeSent(before: number): number {
    return this.db.prepare('DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?').run(before).changes;
  }

  private meta(key: string): number {
    return (this.metaGet.get(key) as { value: number } | undefined)?.value ?? 0;
  }
}

/**
 * The bytes that go on the wire: the stored JSON object with `seq` as its first member. Built the same way
 * on every attempt, so a re-sent message is byte-identical and consumers can dedupe on `seq`.
 */
export function wirePayload(msg: Pick<OutboxMessage, 'seq' | 'payload'>): string {
  // A retained-topic clearing (clearRetained) must stay zero bytes: a payload with a seq would be retained.
  if (msg.payload === '') return '';
  const body = msg.payload.trim();
  if (body === '{}' || !body.startsWith('{')) return `{"seq":${msg.seq}}`;
  return `{"seq":${msg.seq},${body.slice(1)}`;
}
