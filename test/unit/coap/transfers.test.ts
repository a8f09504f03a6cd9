import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { TransferStore } from '../../../src/store/transfers.ts';

describe('TransferStore: batched progress in SQLite', () => {
  let dir: string;
  let db: Db;
  let now = 1_000_000;
  const clock = { now: () => now, monotonic: () => now };
  const row = (d: Db) => d.prepare("SELECT offset, bytes_served, retries, state FROM transfers WHERE device_id = 'd1'").get() as { offset: number; bytes_served: number; retries: number; state: string };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    db = openDatabase(join(dir, 'f.db'), { skipIntegrityCheck: true });
    new DeviceRepo(db).add({ id: 'd1', product: 'p' }, now);
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every N blocks, so a crash loses at most one batch', () => {
    const s = new TransferStore(db, clock, { flushEveryBlocks: 8, flushIntervalMs: 60_000 });
    s.begin('d1', 'p1', 64 * 100, 'udp');
    for (let i = 0; i < 21; i++) s.blockServed('d1', 'p1', 6400, 'udp', i * 64, 64);
    // "Crash": read the file from another connection without flushing.
    const other = openDatabase(join(dir, 'f.db'), { skipIntegrityCheck: true });
    const persisted = row(other);
    other.close();
    expect(persisted.offset).toBe(15 * 64); // last flush after block 16 (index 15)
    expect(s.get('d1', 'p1')!.offset).toBe(20 * 64);
    expect(20 * 64 - persisted.offset).toBeLessThanOrEqual(8 * 64);
    s.stop();
    expect(row(db)).toMatchObject({ offset: 20 * 64, bytes_served: 21 * 64, retries: 0, state: 'active' });
  });

  it('counts a re-asked block as a retry and completes once on the last block', () => {
    const s = new TransferStore(db, clock);
    s.begin('d1', 'p1', 200, 'udp');
    expect(s.blockServed('d1', 'p1', 200, 'udp', 0, 64).retry).toBe(false);
    expect(s.blockServed('d1', 'p1', 200, 'udp', 0, 64).retry).toBe(true);
    s.blockServed('d1', 'p1', 200, 'udp', 64, 64);
    s.blockServed('d1', 'p1', 200, 'udp', 128, 64);
    const last = s.blockServed('d1', 'p1', 200, 'udp', 192, 8);
    expect(last.completed).toBe(true);
    expect(s.blockServed('d1', 'p1', 200, 'udp', 192, 8).completed).toBe(false);
    s.flush();
    expect(row(db)).toMatchObject({ offset: 200, state: 'completed', retries: 2 });
  });

  it('takes a device-reported offset but never moves backwards or past the end', () => {
    const s = new TransferStore(db, clock);
    s.begin('d1', 'p1', 1000, 'udp');
    s.reportOffset('d1', 'p1', 512);
    s.reportOffset('d1', 'p1', 100);
    s.reportOffset('d1', 'p1', 5000);
    expect(row(db).offset).toBe(512);
  });

  it('drops idle entries from memory after flushing them', () => {
    const s = new TransferStore(db, clock);
    s.begin('d1', 'p1', 64, 'udp');
    s.blockServed('d1', 'p1', 64, 'udp', 0, 64);
    s.flush();
    expect(s.cached).toBe(1);
    now += 61_000;
    s.flush();
    expect(s.cached).toBe(0);
    expect(s.get('d1', 'p1')!.state).toBe('completed');
  });

  it('marks transfers idle past the limit as aborted, and a new block reactivates them', () => {
    const s = new TransferStore(db, clock, { abandonAfterMs: 1000 });
    s.begin('d1', 'p1', 640, 'udp');
    s.blockServed('d1', 'p1', 640, 'udp', 0, 64);
    now += 500;
    expect(s.abandonStale()).toBe(0);
    now += 600;
    expect(s.abandonStale()).toBe(1);
    expect(row(db).state).toBe('aborted');
    s.blockServed('d1', 'p1', 640, 'udp', 64, 64);
    s.flush();
    expect(row(db)).toMatchObject({ state: 'active', offset: 64 });
  });
});
