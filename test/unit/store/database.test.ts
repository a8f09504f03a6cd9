import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, openDatabase, schemaVersion } from '../../../src/store/database.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('SQLite store', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it('creates every table from an empty file in WAL mode with the latest schema version', () => {
    const file = join(tmp.dir, 'sub', 'furrow.db');
    const db = openDatabase(file);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['devices', 'releases', 'patches', 'transfers', 'rollouts', 'outbox']));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(schemaVersion(db)).toBe(loadMigrations().at(-1)!.version);
    db.close();
  });

  it('reopens an existing database without re-running migrations and keeps its rows', () => {
    const file = join(tmp.dir, 'furrow.db');
    const db = openDatabase(file);
    db.prepare("INSERT INTO devices (id, product, created_at) VALUES ('d1', 'p', 1)").run();
    const v = schemaVersion(db);
    db.close();
    const again = openDatabase(file);
    expect(schemaVersion(again)).toBe(v);
    expect(again.prepare('SELECT count(*) AS n FROM devices').get()).toEqual({ n: 1 });
    again.close();
  });

  it('keeps stored patches and devices across migration 070 (patch formats): v1 rows become the format-1 builds', () => {
    const file = join(tmp.dir, 'furrow.db');
    const before = loadMigrations().filter((m) => m.version < 70);
    const old = openDatabase(file, { migrations: before });
    old.prepare("INSERT INTO releases (sha256, product, version, secure_version, size, chip, added_at) VALUES ('t', 'p', '2', 0, 10, 'esp32', 1)").run();
    old.prepare("INSERT INTO devices (id, product, created_at) VALUES ('d1', 'p', 1)").run();
    old.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at, delta_size, table_digest) VALUES ('x', 'f', 't', 'delta', 5, 1, 1, 5, 'dd')").run();
    old.close();
    const db = openDatabase(file);
    expect(db.prepare('SELECT id, from_sha256, to_sha256, format_cap, format_version, delta_size, table_digest FROM patches').all()).toEqual([
      { id: 'x', from_sha256: 'f', to_sha256: 't', format_cap: 1, format_version: 1, delta_size: 5, table_digest: 'dd' },
    ]);
    expect(db.prepare('SELECT id, patch_format FROM devices').all()).toEqual([{ id: 'd1', patch_format: 1 }]);
    // the same move may now hold one patch per format
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, format_cap, kind, size, format_version, created_at) VALUES ('y', 'f', 't', 2, 'delta', 4, 2, 2)").run();
    expect(db.prepare('SELECT count(*) AS n FROM patches').get()).toEqual({ n: 2 });
    db.close();
  });

  it('applies only the migrations above the stored version', () => {
    const file = join(tmp.dir, 'furrow.db');
    const first = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER);' }];
    openDatabase(file, { migrations: first }).close();
    const db = openDatabase(file, { migrations: [...first, { version: 5, name: 'b', sql: 'CREATE TABLE b (y INTEGER);' }] });
    expect(schemaVersion(db)).toBe(5);
    db.close();
  });

  it('applies a migration numbered below one already applied (modules own number ranges)', () => {
    const file = join(tmp.dir, 'furrow.db');
    const a = { version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER);' };
    const c = { version: 40, name: 'c', sql: 'CREATE TABLE c (z INTEGER);' };
    openDatabase(file, { migrations: [a, c] }).close();
    const db = openDatabase(file, { migrations: [a, { version: 30, name: 'b', sql: 'CREATE TABLE b (y INTEGER);' }, c] });
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").get()).toEqual({ n: 1 });
    expect(schemaVersion(db)).toBe(40);
    db.close();
  });

  it('refuses a database written by a newer furrow, saying so', () => {
    const file = join(tmp.dir, 'furrow.db');
    const raw = new Database(file);
    raw.pragma('user_version = 9999');
    raw.close();
    expect(() => openDatabase(file)).toThrow(/schema version 9999, but this furrow knows only up to/);
  });

  it('refuses a file that is not a SQLite database with the file name', () => {
    const file = join(tmp.dir, 'furrow.db');
    writeFileSync(file, 'this is not sqlite at all, just text that is long enough to have a header...'.repeat(20));
    expect(() => openDatabase(file)).toThrow(/furrow\.db/);
  });

  it('rolls back a failing migration and leaves the version unchanged', () => {
    const file = join(tmp.dir, 'furrow.db');
    const ok = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER);' }];
    openDatabase(file, { migrations: ok }).close();
    expect(() => openDatabase(file, { migrations: [...ok, { version: 2, name: 'bad', sql: 'CREATE TABLE b (y INTEGER); NOT SQL;' }] })).toThrow();
    const db = openDatabase(file, { migrations: ok });
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").get()).toEqual({ n: 0 });
    db.close();
  });
});
