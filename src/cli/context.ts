import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { discoverConfig, loadConfig, type LoadedConfig } from '../config/index.ts';
import { dataPaths } from '../daemon.ts';
import { InputError } from '../errors.ts';
import { BlobStore } from '../release/blob-store.ts';
import { openDatabase, type Db } from '../store/database.ts';

/** Global options every verb accepts (defined on the root program). */
export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
}

/** A loaded config and how discovery found it (for "which database is this?" messages). */
export interface CliConfig extends LoadedConfig {
  source: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Finds and loads the config (src/config/discover.ts); `--verbose` says which file and database. */
export function loadCliConfig(cmd: Command): CliConfig {
  const opts = globalOptions(cmd);
  const found = discoverConfig({ flag: opts.config });
  const loaded: CliConfig = { ...loadConfig(found.file), source: found.source };
  if (opts.verbose) process.stderr.write(`furrow: config ${loaded.file} (${loaded.source}); database ${dataPaths(loaded.config).db}\n`);
  return loaded;
}

export interface StoreOptions {
  /** Create the database when it does not exist (verbs that write: init, release add, devices add). */
  create?: boolean;
}

/**
 * Opens the daemon's store from the CLI. WAL mode lets the CLI read and write beside a running daemon;
 * the busy timeout makes it wait for the daemon's batch writes instead of failing. A verb that only reads
 * never creates a database: an empty new one would answer "no devices" for a gateway that has hundreds.
 */
export function openCliStore(loaded: LoadedConfig & { source?: string }, opts: StoreOptions = {}): { db: Db; blobs: BlobStore; close(): void } {
  const paths = dataPaths(loaded.config);
  if (!opts.create && !existsSync(paths.db)) throw missingDatabase(paths.db, loaded);
  const db = openDatabase(paths.db, { skipIntegrityCheck: true });
  return { db, blobs: new BlobStore(paths.blobs), close: () => db.close() };
}

export function missingDatabase(db: string, loaded: LoadedConfig & { source?: string }): InputError {
  return new InputError('STORE_MISSING', `no database at ${db} (data.dir of ${loaded.file}${loaded.source ? `, found via ${loaded.source}` : ''})`, {
    hint: 'create it with `furrow init` (same config), or name the gateway\'s config with --config FILE or FURROW_CONFIG',
  });
}

/** Runs `fn` with an open store and always closes it. */
export async function withStore<T>(cmd: Command, fn: (s: { db: Db; blobs: BlobStore; loaded: CliConfig }) => T | Promise<T>, opts: StoreOptions = {}): Promise<T> {
  const loaded = loadCliConfig(cmd);
  const store = openCliStore(loaded, opts);
  try {
    return await fn({ ...store, loaded });
  } finally {
    store.close();
  }
}

/** Renders rows as an aligned text table (no colours: output is often piped or logged). */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** `--json` output: one JSON document on stdout; bytes (keys, signatures) as hex, not Node's Buffer object. */
export function printJson(value: unknown): void {
  const text = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, v: unknown) {
      const raw = this[key];
      return raw instanceof Uint8Array ? Buffer.from(raw).toString('hex') : v;
    },
    2,
  );
  process.stdout.write(text + '\n');
}
