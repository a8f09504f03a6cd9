import type { Command } from 'commander';
import { defaultConfigPath, loadConfig, type LoadedConfig } from '../config/index.ts';
import { dataPaths } from '../daemon.ts';
import { BlobStore } from '../release/blob-store.ts';
import { openDatabase, type Db } from '../store/database.ts';

/** Global options every verb accepts (defined on the root program). */
export interface GlobalOptions {
  config?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export function loadCliConfig(cmd: Command): LoadedConfig {
  return loadConfig(globalOptions(cmd).config ?? defaultConfigPath());
}

/**
 * Opens the daemon's store from the CLI. WAL mode lets the CLI read and write beside a running daemon;
 * the busy timeout makes it wait for the daemon's batch writes instead of failing.
 */
export function openCliStore(loaded: LoadedConfig): { db: Db; blobs: BlobStore; close(): void } {
  const paths = dataPaths(loaded.config);
  const db = openDatabase(paths.db, { skipIntegrityCheck: true });
  return { db, blobs: new BlobStore(paths.blobs), close: () => db.close() };
}

/** Runs `fn` with an open store and always closes it. */
export async function withStore<T>(cmd: Command, fn: (s: { db: Db; blobs: BlobStore; loaded: LoadedConfig }) => T | Promise<T>): Promise<T> {
  const loaded = loadCliConfig(cmd);
  const store = openCliStore(loaded);
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
