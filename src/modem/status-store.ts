import type { Db } from '../store/database.ts';
import type { ModemHealth } from './health.ts';

/** The daemon's last modem snapshot in SQLite (table from migration 050), read by `furrow modem status`. */
export function saveStatus(db: Db, port: string, at: number, health: ModemHealth): void {
  db.prepare(
    `INSERT INTO modem_status (id, port, updated_at, snapshot) VALUES (1, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET port = excluded.port, updated_at = excluded.updated_at, snapshot = excluded.snapshot`,
  ).run(port, at, JSON.stringify(health));
}

export function loadStatus(db: Db): { port: string; updatedAt: number; health: ModemHealth } | undefined {
  const row = db.prepare('SELECT port, updated_at, snapshot FROM modem_status WHERE id = 1').get() as
    | { port: string; updated_at: number; snapshot: string }
    | undefined;
  if (!row) return undefined;
  try {
    return { port: row.port, updatedAt: row.updated_at, health: JSON.parse(row.snapshot) as ModemHealth };
  } catch {
    return undefined;
  }
}
