import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FurrowError } from '../errors.ts';
import type { Logger } from '../log.ts';

export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Numbered `NNN_name.sql` files; numbers may have gaps (modules own ranges), order is numeric. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir)) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2]!, sql: readFileSync(join(dir, file), 'utf8') });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.version === out[i - 1]!.version) {
      throw new FurrowError('STORE_MIGRATION_DUPLICATE', `two migrations share number ${out[i]!.version}`);
    }
  }
  return out;
}

export interface OpenOptions {
  log?: Logger;
  /** Skip PRAGMA integrity_check (it reads the whole file); the daemon always runs it. */
  skipIntegrityCheck?: boolean;
  migrations?: Migration[];
  readonly?: boolean;
}

/**
 * Opens (creating if needed) the SQLite database: WAL, synchronous=NORMAL (durable across process
 * crashes; a power cut may lose the last transaction but never corrupts), busy timeout so a second
 * process (the CLI beside the daemon) waits instead of failing, then integrity check and migrations.
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false });
  } catch (err) {
    throw new FurrowError('STORE_OPEN', `cannot open database ${file}: ${(err as Error).message}`, {
      hint: 'check that the data directory exists and is writable by the furrow user',
      cause: err,
    });
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (!opts.skipIntegrityCheck) {
      const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
      const bad = rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
      if (bad.length > 0) {
        throw new FurrowError('STORE_CORRUPT', `database ${file} failed integrity_check: ${bad.slice(0, 3).join('; ')}`, {
          hint: 'restore the file from a backup or move it aside to start with an empty store',
        });
      }
    }
    if (!opts.readonly) migrate(db, opts.migrations ?? loadMigrations(), opts.log, file);
    else checkNotNewer(db, opts.migrations ?? loadMigrations(), file);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof FurrowError) throw err;
    throw new FurrowError('STORE_OPEN', `cannot use database ${file}: ${(err as Error).message}`, {
      hint: openHint((err as { code?: string }).code),
      cause: err,
    });
  }
}

/** A full disk or a lock held elsewhere is not a damaged file: never advise moving the DB aside for those. */
function openHint(code: string | undefined): string {
  if (code === 'SQLITE_FULL') return 'the disk is full: free space under the data directory, then start again (nothing was lost)';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return 'another process holds the database lock (a second furrow daemon?); stop it and retry';
  return 'if the file is damaged, restore it from a backup or move it aside to start with an empty store';
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function checkNotNewer(db: Db, migrations: Migration[], file: string): void {
  const current = schemaVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new FurrowError(
      'STORE_TOO_NEW',
      `database ${file} has schema version ${current}, but this furrow knows only up to ${latest}`,
      { hint: 'the database was written by a newer furrow: upgrade furrow, or restore a backup made by this version' },
    );
  }
}

/**
 * Applies every migration not yet recorded in `schema_migrations`, each in its own transaction. Modules
 * own number ranges, so a migration can arrive with a number below one already applied: tracking the set
 * (not just the highest number) applies it anyway. `user_version` keeps the highest number applied, for
 * the "database is newer than this furrow" check.
 */
export function migrate(db: Db, migrations: Migration[], log: Logger | undefined, file = 'database'): number {
  checkNotNewer(db, migrations, file);
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  if (applied.size === 0 && schemaVersion(db) > 0) {
    // A database from before schema_migrations existed recorded only user_version.
    const current = schemaVersion(db);
    for (const m of migrations) {
      if (m.version > current) continue;
      record.run(m.version, m.name, Date.now());
      applied.add(m.version);
    }
  }
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
      db.pragma(`user_version = ${Math.max(m.version, schemaVersion(db))}`);
    })();
    log?.info({ module: 'store', version: m.version, migration: m.name }, 'applied migration');
  }
  return schemaVersion(db);
}
