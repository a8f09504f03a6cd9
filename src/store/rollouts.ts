import type { Db } from './database.ts';

export type RolloutState = 'running' | 'paused' | 'halted' | 'aborted' | 'completed' | 'expired';
export const TERMINAL_STATES: readonly RolloutState[] = ['aborted', 'completed', 'expired'];
export type WaveState = 'waiting' | 'active' | 'soaking' | 'done';
export type MemberState = 'pending' | 'offered' | 'downloading' | 'applied' | 'succeeded' | 'failed' | 'rolled_back' | 'cancelled';
export const FINISHED_MEMBER_STATES: readonly MemberState[] = ['succeeded', 'failed', 'rolled_back', 'cancelled'];

export interface RolloutRow {
  id: string;
  releaseSha256: string;
  /** The applied rollout definition (JSON of the validated spec). */
  spec: unknown;
  state: RolloutState;
  currentWave: number;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WaveRow {
  rolloutId: string;
  wave: number;
  name: string;
  size: number;
  state: WaveState;
  startedAt: number | null;
  soakStartedAt: number | null;
  doneAt: number | null;
  soakElapsedMs: number;
}

export interface MemberRow {
  rolloutId: string;
  deviceId: string;
  wave: number;
  rank: string;
  state: MemberState;
  fromSha256: string | null;
  bytes: number;
  reason: string | null;
  updatedAt: number;
}

export interface WaveCounts {
  wave: number;
  members: number;
  pending: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  rolledBack: number;
  cancelled: number;
}

const rollout = (r: Record<string, unknown>): RolloutRow => ({
  id: r.id as string,
  releaseSha256: r.release_sha256 as string,
  spec: JSON.parse(r.spec as string),
  state: r.state as RolloutState,
  currentWave: r.current_wave as number,
  reason: (r.reason as string | null) ?? null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const wave = (r: Record<string, unknown>): WaveRow => ({
  rolloutId: r.rollout_id as string,
  wave: r.wave as number,
  name: r.name as string,
  size: r.size as number,
  state: r.state as WaveState,
  startedAt: r.started_at as number | null,
  soakStartedAt: r.soak_started_at as number | null,
  doneAt: r.done_at as number | null,
  soakElapsedMs: r.soak_elapsed_ms as number,
});

const member = (r: Record<string, unknown>): MemberRow => ({
  rolloutId: r.rollout_id as string,
  deviceId: r.device_id as string,
  wave: r.wave as number,
  rank: r.rank as string,
  state: r.state as MemberState,
  fromSha256: r.from_sha256 as string | null,
  bytes: r.bytes as number,
  reason: r.reason as string | null,
  updatedAt: r.updated_at as number,
});

/**
 * Rollout state in SQLite: the rollout row (001), its waves, its device membership and a log of
 * transitions. Every state change is a conditional UPDATE inside a transaction, so the daemon and the
 * CLI (which writes beside it) cannot both win a race.
 */
export class RolloutRepo {
  constructor(readonly db: Db) {}

  get(id: string): RolloutRow | undefined {
    const r = this.db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? rollout(r) : undefined;
  }

  list(): RolloutRow[] {
    return (this.db.prepare('SELECT * FROM rollouts ORDER BY created_at, id').all() as Array<Record<string, unknown>>).map(rollout);
  }

  /** Rollouts that may still hand out updates or be resumed. */
  live(): RolloutRow[] {
    return (
      this.db.prepare(`SELECT * FROM rollouts WHERE state IN ('running', 'paused', 'halted') ORDER BY created_at, id`).all() as Array<Record<string, unknown>>
    ).map(rollout);
  }

  waves(id: string): WaveRow[] {
    return (this.db.prepare('SELECT * FROM rollout_waves WHERE rollout_id = ? ORDER BY wave').all(id) as Array<Record<string, unknown>>).map(wave);
  }

  member(id: string, deviceId: string): MemberRow | undefined {
    const r = this.db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? AND device_id = ?').get(id, deviceId) as Record<string, unknown> | undefined;
    return r ? member(r) : undefined;
  }

  members(id: string, filter: { wave?: number; states?: readonly MemberState[] } = {}): MemberRow[] {
    let sql = 'SELECT * FROM rollout_devices WHERE rollout_id = ?';
    const args: unknown[] = [id];
    if (filter.wave !== undefined) {
      sql += ' AND wave = ?';
      args.push(filter.wave);
    }
    if (filter.states) {
      sql += ` AND state IN (${filter.states.map(() => '?').join(',')})`;
      args.push(...filter.states);
    }
    return (this.db.prepare(sql + ' ORDER BY wave, rank').all(...args) as Array<Record<string, unknown>>).map(member);
  }

  /** Memberships of one device in rollouts that are still live, newest rollout first. */
  memberships(deviceId: string): Array<MemberRow & { rolloutState: RolloutState }> {
    const rows = this.db
      .prepare(
        `SELECT d.*, r.state AS rollout_state FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
         WHERE d.device_id = ? AND r.state IN ('running', 'paused', 'halted') ORDER BY r.created_at DESC`,
      )
      .all(deviceId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({ ...member(r), rolloutState: r.rollout_state as RolloutState }));
  }

  counts(id: string): WaveCounts[] {
    const rows = this.db
      .prepare('SELECT wave, state, count(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY wave, state ORDER BY wave')
      .all(id) as Array<{ wave: number; state: MemberState; n: number }>;
    const out = new Map<number, WaveCounts>();
    for (const r of rows) {
      const c = out.get(r.wave) ?? { wave: r.wave, members: 0, pending: 0, inProgress: 0, succeeded: 0, failed: 0, rolledBack: 0, cancelled: 0 };
      c.members += r.n;
      if (r.state === 'pending') c.pending += r.n;
      else if (r.state === 'succeeded') c.succeeded += r.n;
      else if (r.state === 'failed') c.failed += r.n;
      else if (r.state === 'rolled_back') c.rolledBack += r.n;
      else if (r.state === 'cancelled') c.cancelled += r.n;
      else c.inProgress += r.n;
      out.set(r.wave, c);
    }
    return [...out.values()];
  }

  /** Bytes offered so far (the rollout's byte budget counts these). */
  bytesOffered(id: string): number {
    return (this.db.prepare(`SELECT coalesce(sum(bytes), 0) AS b FROM rollout_devices WHERE rollout_id = ? AND state != 'pending'`).get(id) as { b: number }).b;
  }

  /** Creates or replaces a rollout with its waves and membership, in one transaction. */
  save(r: { id: string; releaseSha256: string; spec: unknown; waves: Array<{ name: string; size: number }>; members: Array<{ deviceId: string; wave: number; rank: string }> }, now: number, replace: boolean): void {
    this.db.transaction(() => {
      const existing = this.get(r.id);
      if (existing && !replace) throw new Error(`rollout ${r.id} exists`);
      if (existing) {
        this.db.prepare('UPDATE rollouts SET release_sha256 = ?, spec = ?, updated_at = ? WHERE id = ?').run(r.releaseSha256, JSON.stringify(r.spec), now, r.id);
      } else {
        this.db
          .prepare(`INSERT INTO rollouts (id, release_sha256, spec, state, current_wave, reason, created_at, updated_at) VALUES (?, ?, ?, 'running', 0, NULL, ?, ?)`)
          .run(r.id, r.releaseSha256, JSON.stringify(r.spec), now, now);
      }
      const oldWaves = new Map(this.waves(r.id).map((w) => [w.wave, w]));
      this.db.prepare('DELETE FROM rollout_waves WHERE rollout_id = ? AND wave >= ?').run(r.id, r.waves.length);
      const upsertWave = this.db.prepare(
        `INSERT INTO rollout_waves (rollout_id, wave, name, size, state, started_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (rollout_id, wave) DO UPDATE SET name = excluded.name, size = excluded.size`,
      );
      r.waves.forEach((w, i) => {
        const first = i === 0 && !oldWaves.has(0);
        upsertWave.run(r.id, i, w.name, w.size, first ? 'active' : 'waiting', first ? now : null);
      });
      // Devices that already took part keep their wave; only untouched devices are (re)placed.
      const upsertMember = this.db.prepare(
        `INSERT INTO rollout_devices (rollout_id, device_id, wave, rank, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)
         ON CONFLICT (rollout_id, device_id) DO UPDATE SET wave = CASE WHEN state = 'pending' THEN excluded.wave ELSE wave END`,
      );
      const keep = new Set(r.members.map((m) => m.deviceId));
      for (const m of r.members) upsertMember.run(r.id, m.deviceId, m.wave, m.rank, now);
      for (const m of this.members(r.id, { states: ['pending'] })) {
        if (!keep.has(m.deviceId)) this.db.prepare('DELETE FROM rollout_devices WHERE rollout_id = ? AND device_id = ?').run(r.id, m.deviceId);
      }
      this.log(r.id, existing ? 'updated' : 'running', existing?.currentWave ?? 0, existing ? 'spec re-applied' : 'applied', now);
    })();
  }

  /** Adds a device that started matching the selector after apply. */
  addMember(id: string, deviceId: string, waveIndex: number, rank: string, now: number): void {
    this.db
      .prepare(`INSERT OR IGNORE INTO rollout_devices (rollout_id, device_id, wave, rank, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)`)
      .run(id, deviceId, waveIndex, rank, now);
  }

  /** Moves a rollout between states if it is in one of `from`; returns false when it was not. */
  transition(id: string, from: readonly RolloutState[], to: RolloutState, reason: string | null, now: number): boolean {
    return this.db.transaction(() => {
      const cur = this.get(id);
      if (!cur || !from.includes(cur.state)) return false;
      this.db.prepare('UPDATE rollouts SET state = ?, reason = ?, updated_at = ? WHERE id = ?').run(to, reason, now, id);
      if (TERMINAL_STATES.includes(to)) {
        this.db
          .prepare(`UPDATE rollout_devices SET state = 'cancelled', reason = ?, updated_at = ? WHERE rollout_id = ? AND state IN ('pending', 'offered', 'downloading')`)
          .run(`rollout ${to}`, now, id);
      }
      this.log(id, to, cur.currentWave, reason, now);
      return true;
    })();
  }

  setMember(id: string, deviceId: string, state: MemberState, now: number, extra: { reason?: string | null; fromSha256?: string; bytes?: number } = {}): void {
    this.db
      .prepare(
        `UPDATE rollout_devices SET state = ?, reason = coalesce(?, reason), from_sha256 = coalesce(?, from_sha256), bytes = coalesce(?, bytes), updated_at = ?
         WHERE rollout_id = ? AND device_id = ?`,
      )
      .run(state, extra.reason ?? null, extra.fromSha256 ?? null, extra.bytes ?? null, now, id, deviceId);
  }

  setWave(id: string, w: number, patch: Partial<Pick<WaveRow, 'state' | 'startedAt' | 'soakStartedAt' | 'doneAt' | 'soakElapsedMs'>>): void {
    const cols: string[] = [];
    const args: unknown[] = [];
    const map: Record<string, string> = { state: 'state', startedAt: 'started_at', soakStartedAt: 'soak_started_at', doneAt: 'done_at', soakElapsedMs: 'soak_elapsed_ms' };
    for (const [k, v] of Object.entries(patch)) {
      cols.push(`${map[k]} = ?`);
      args.push(v);
    }
    if (cols.length === 0) return;
    this.db.prepare(`UPDATE rollout_waves SET ${cols.join(', ')} WHERE rollout_id = ? AND wave = ?`).run(...args, id, w);
  }

  /** Finishes the current wave and opens the next one, in one transaction. */
  advance(id: string, fromWave: number, now: number): void {
    this.db.transaction(() => {
      this.setWave(id, fromWave, { state: 'done', doneAt: now });
      this.setWave(id, fromWave + 1, { state: 'active', startedAt: now });
      this.db.prepare('UPDATE rollouts SET current_wave = ?, updated_at = ? WHERE id = ? AND current_wave = ?').run(fromWave + 1, now, id, fromWave);
      this.log(id, 'running', fromWave + 1, `wave ${fromWave} done`, now);
    })();
  }

  log(id: string, state: string, waveIndex: number | null, reason: string | null, now: number): void {
    this.db.prepare('INSERT INTO rollout_log (rollout_id, at, state, wave, reason) VALUES (?, ?, ?, ?, ?)').run(id, now, state, waveIndex, reason);
  }

  history(id: string): Array<{ at: number; state: string; wave: number | null; reason: string | null }> {
    return this.db.prepare('SELECT at, state, wave, reason FROM rollout_log WHERE rollout_id = ? ORDER BY seq').all(id) as Array<{
      at: number;
      state: string;
      wave: number | null;
      reason: string | null;
    }>;
  }
}
