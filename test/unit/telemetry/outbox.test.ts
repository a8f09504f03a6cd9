import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { Outbox, wirePayload, type OutboxKind } from '../../../src/store/outbox.ts';

let dir: string;
let db: Db;
let outbox: Outbox;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'furrow-'));
  db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
  outbox = new Outbox(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function add(kind: OutboxKind, n: number, at: number): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(outbox.enqueue({ topic: `t/${kind}`, kind, payload: { i, kind } }, at));
  return seqs;
}

describe('Outbox', () => {
  it('hands back unsent messages in sequence order and skips the ones already handed out', () => {
    const seqs = add('state', 5, 1000);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(outbox.pending(0, 3).map((m) => m.seq)).toEqual(seqs.slice(0, 3));
    expect(outbox.pending(seqs[2]!, 10).map((m) => m.seq)).toEqual(seqs.slice(3));
  });

  it('never hands out an acknowledged message again, across a reopen of the database', () => {
    const seqs = add('result', 4, 1000);
    outbox.markSent(seqs[0]!, 2000);
    outbox.markSent(seqs[1]!, 2000);
    db.close();
    db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
    outbox = new Outbox(db);
    expect(outbox.pending(0, 10).map((m) => m.seq)).toEqual(seqs.slice(2));
    expect(outbox.depth()).toBe(2);
    expect(outbox.lastAckedSeq()).toBe(seqs[1]);
  });

  it('keeps numbering upwards after acknowledged rows are purged (a consumer never sees a seq twice for two events)', () => {
    const first = add('state', 3, 1000);
    for (const s of first) outbox.markSent(s, 1500);
    expect(outbox.purgeSent(2000)).toBe(3);
    const next = add('state', 1, 3000);
    expect(next[0]).toBeGreaterThan(first.at(-1)!);
  });

  it('puts seq first in the wire payload, identically on every attempt', () => {
    const seq = outbox.enqueue({ topic: 't', kind: 'state', payload: { type: 'x', data: { a: 1 } } }, 1);
    const [row] = outbox.pending(0, 1);
    const wire = wirePayload(row!);
    expect(JSON.parse(wire)).toEqual({ seq, type: 'x', data: { a: 1 } });
    expect(wire.startsWith(`{"seq":${seq},`)).toBe(true);
    expect(wirePayload(row!)).toBe(wire);
    expect(JSON.parse(wirePayload({ seq: 7, payload: '{}' }))).toEqual({ seq: 7 });
  });

  it('drops the oldest progress events first when over the row bound, then state, never results', () => {
    const p = add('progress', 50, 1000);
    const s = add('state', 50, 1000);
    const r = add('result', 50, 1000);
    const first = outbox.prune({ maxRows: 120, maxAgeMs: 1e12 }, 2000);
    expect(first).toMatchObject({ progress: 30, state: 0, fromSeq: p[0], toSeq: p[29] });
    expect(outbox.pending(0, 1000).map((m) => m.seq)).toEqual([...p.slice(30), ...s, ...r]);

    const second = outbox.prune({ maxRows: 60, maxAgeMs: 1e12 }, 2000);
    expect(second).toMatchObject({ progress: 20, state: 40 });
    expect(outbox.pending(0, 1000).map((m) => m.seq)).toEqual([...s.slice(40), ...r]);

    const third = outbox.prune({ maxRows: 10, maxAgeMs: 1e12 }, 2000);
    expect(third).toMatchObject({ progress: 0, state: 10 });
    // Only results remain: the bound yields rather than lose an update outcome.
    expect(outbox.pending(0, 1000).map((m) => m.seq)).toEqual(r);
    expect(outbox.droppedTotal()).toBe(100);
  });

  it('drops unsent progress and state older than the age bound but keeps old results', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const oldP = add('progress', 3, t0 + 1000);
    const oldR = add('result', 2, t0 + 1000);
    const fresh = add('state', 2, t0 + 9000);
    void oldP;
    const res = outbox.prune({ maxRows: 1000, maxAgeMs: 5000 }, t0 + 10_000);
    expect(res.progress).toBe(3);
    expect(outbox.pending(0, 100).map((m) => m.seq)).toEqual([...oldR, ...fresh]);
  });

  it('does not judge age by timestamps from before the clock was set (a Pi without RTC before NTP)', () => {
    const year2026 = Date.UTC(2026, 5, 1);
    const beforeNtp = add('progress', 3, 90_000); // 1970, minutes after boot
    const stale = add('progress', 2, year2026 - 40 * 86_400_000);
    const fresh = add('state', 1, year2026 - 1000);
    expect(outbox.prune({ maxRows: 1000, maxAgeMs: 30 * 86_400_000 }, year2026)).toMatchObject({ progress: 2, state: 0 });
    expect(outbox.pending(0, 100).map((m) => m.seq)).toEqual([...beforeNtp, ...fresh]);
    void stale;
    // And while the clock itself is not set yet, nothing is old.
    expect(outbox.prune({ maxRows: 1000, maxAgeMs: 1 }, 200_000)).toMatchObject({ progress: 0, state: 0 });
  });

  it('does not count an acknowledged row against the bound', () => {
    const s = add('progress', 10, 1000);
    for (const q of s.slice(0, 8)) outbox.markSent(q, 1100);
    expect(outbox.prune({ maxRows: 100, maxAgeMs: 1e12 }, 2000)).toMatchObject({ progress: 0, state: 0 });
    expect(outbox.depth()).toBe(2);
    expect(outbox.oldestPending()).toEqual({ seq: s[8], createdAt: 1000 });
  });
  it('queues a retained-topic clearing as a zero-byte retained result that pruning never drops', () => {
    const seq = outbox.clearRetained('furrow/gw/devices/p1/state', 1000);
    for (let i = 0; i < 5; i++) outbox.enqueue({ topic: 't', kind: 'state', payload: { i } }, 1000);
    outbox.prune({ maxRows: 1, maxAgeMs: 1e12 }, 2000);
    const [row] = outbox.pending(0, 10);
    expect(row).toMatchObject({ seq, topic: 'furrow/gw/devices/p1/state', payload: '', retain: true, kind: 'result' });
    expect(wirePayload(row!)).toBe('');
  });
});
