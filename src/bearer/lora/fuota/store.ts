import { randomBytes } from 'node:crypto';
import type { Db } from '../../../store/database.ts';
import type { FuotaResume, MemberResult, MemberState } from './session-types.ts';

/** Tables of migration 060: multicast sessions and their members (the daemon's checkpoints, the CLI's view). */

export type SessionState = 'queued' | 'setup' | 'broadcast' | 'status' | 'repair' | 'done' | 'failed' | 'cancelled';
export const ACTIVE_SESSION_STATES: readonly SessionState[] = ['queued', 'setup', 'broadcast', 'status', 'repair'];

export interface SessionRow {
  id: string;
  rolloutId: string;
  wave: number;
  fromSha256: string;
  toSha256: string;
  patchId: string;
  patchSize: number;
  state: SessionState;
  origin: 'rollout' | 'cli';
  cancelRequested: boolean;
  mcAddr: number | null;
  mcKey: Buffer | null;
  groupId: string | null;
  fragSize: number | null;
  nbFrag: number | null;
  parity: number | null;
  sent: number;
  reason: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface SessionMemberRow {
  deviceId: string;
  devEui: string;
  state: MemberState;
  missing: number | null;
  repairFragments: number;
  reason: string | null;
}

type Raw = Record<string, unknown>;

// Timestamps are stored as whole unix ms; writers floor `now` (a virtual clock may hand fractions).

function toSession(r: Raw): SessionRow {
  return {
    id: r.id as string,
    rolloutId: r.rollout_id as string,
    wave: r.wave as number,
    fromSha256: r.from_sha256 as string,
    toSha256: r.to_sha256 as string,
    patchId: r.patch_id as string,
    patchSize: r.patch_size as number,
    state: r.state as SessionState,
    origin: r.origin as 'rollout' | 'cli',
    cancelRequested: r.cancel_requested === 1,
    mcAddr: r.mc_addr as number | null,
    mcKey: r.mc_key as Buffer | null,
    groupId: r.group_id as string | null,
    fragSize: r.frag_size as number | null,
    nbFrag: r.nb_frag as number | null,
    parity: r.parity as number | null,
    sent: r.sent as number,
    reason: r.reason as string | null,
    createdAt: r.created_at as number,
    startedAt: r.started_at as number | null,
    finishedAt: r.finished_at as number | null,
  };
}

export type NewSession = Pick<SessionRow, 'rolloutId' | 'wave' | 'fromSha256' | 'toSha256' | 'patchId' | 'patchSize' | 'origin'> & {
  members: Array<{ deviceId: string; devEui: string }>;
};

export class MulticastRepo {
  constructor(private readonly db: Db) {}

  /** A queued session and its members, in one transaction; returns the new id. */
  create(s: NewSession, now: number): string {
    now = Math.floor(now);
    const id = `mc-${randomBytes(3).toString('hex')}`;
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO lora_mc_sessions (id, rollout_id, wave, from_sha256, to_sha256, patch_id, patch_size, state, origin, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
        )
        .run(id, s.rolloutId, s.wave, s.fromSha256, s.toSha256, s.patchId, s.patchSize, s.origin, now, now);
      const add = this.db.prepare("INSERT INTO lora_mc_members (session_id, device_id, dev_eui, state, updated_at) VALUES (?, ?, ?, 'setup', ?)");
      for (const m of s.members) add.run(id, m.deviceId, m.devEui, now);
    })();
    return id;
  }

  get(id: string): SessionRow | undefined {
    const r = this.db.prepare('SELECT * FROM lora_mc_sessions WHERE id = ?').get(id) as Raw | undefined;
    return r ? toSession(r) : undefined;
  }

  list(filter: { states?: readonly SessionState[]; rolloutId?: string } = {}): SessionRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.states) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      args.push(...filter.states);
    }
    if (filter.rolloutId) {
      where.push('rollout_id = ?');
      args.push(filter.rolloutId);
    }
    const sql = `SELECT * FROM lora_mc_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`;
    return (this.db.prepare(sql).all(...args) as Raw[]).map(toSession);
  }

  members(sessionId: string): SessionMemberRow[] {
    return (this.db.prepare('SELECT * FROM lora_mc_members WHERE session_id = ? ORDER BY device_id').all(sessionId) as Raw[]).map((r) => ({
      deviceId: r.device_id as string,
      devEui: r.dev_eui as string,
      state: r.state as MemberState,
      missing: r.missing as number | null,
      repairFragments: r.repair_fragments as number,
      reason: r.reason as string | null,
    }));
  }

  /** Device ids that are members of a session of this rollout in one of these states. */
  deviceIdsIn(rolloutId: string, states: readonly SessionState[]): Set<string> {
    const rows = this.db
      .prepare(`SELECT m.device_id FROM lora_mc_members m JOIN lora_mc_sessions s ON s.id = m.session_id WHERE s.rollout_id = ? AND s.state IN (${states.map(() => '?').join(', ')})`)
      .all(rolloutId, ...states) as Array<{ device_id: string }>;
    return new Set(rows.map((r) => r.device_id));
  }

  /** The patch a device rebuilt from a multicast session for this move, if any (newest session first). */
  receivedPatch(deviceId: string, fromSha256: string, toSha256: string): string | undefined {
    const r = this.db
      .prepare(
        `SELECT s.patch_id FROM lora_mc_sessions s JOIN lora_mc_members m ON m.session_id = s.id
         WHERE m.device_id = ? AND m.state = 'complete' AND s.from_sha256 = ? AND s.to_sha256 = ?
         ORDER BY s.created_at DESC LIMIT 1`,
      )
      .get(deviceId, fromSha256, toSha256) as { patch_id: string } | undefined;
    return r?.patch_id;
  }

  /**
   * The live session a device waits for. A member that rebuilt the patch is not held: its check-in
   * gets the usual answer, whose patch id is the data it already holds, so it only fetches the signed
   * manifest before applying.
   */
  holding(deviceId: string): SessionRow | undefined {
    const r = this.db
      .prepare(
        `SELECT s.* FROM lora_mc_sessions s JOIN lora_mc_members m ON m.session_id = s.id
         WHERE m.device_id = ? AND m.state <> 'complete' AND s.state IN ('queued', 'setup', 'broadcast', 'status', 'repair')
         ORDER BY s.created_at DESC LIMIT 1`,
      )
      .get(deviceId) as Raw | undefined;
    return r ? toSession(r) : undefined;
  }

  setState(id: string, state: SessionState, now: number, reason: string | null = null): void {
    now = Math.floor(now);
    const finished = state === 'done' || state === 'failed' || state === 'cancelled';
    this.db
      .prepare(
        `UPDATE lora_mc_sessions SET state = ?, reason = coalesce(?, reason), updated_at = ?,
           started_at = CASE WHEN started_at IS NULL AND ? <> 'queued' THEN ? ELSE started_at END,
           finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?`,
      )
      .run(state, reason, now, state, now, finished ? 1 : 0, now, id);
  }

  /** Only a live session can be asked to stop; returns false when it already ended. */
  requestCancel(id: string, now: number): boolean {
    now = Math.floor(now);
    return this.db.prepare(`UPDATE lora_mc_sessions SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state IN ('queued', 'setup', 'broadcast', 'status', 'repair')`).run(now, id).changes === 1;
  }

  saveGroup(id: string, g: Pick<FuotaResume, 'mcKey' | 'mcAddr' | 'groupId' | 'fragSize' | 'parity'> & { nbFrag: number }, now: number): void {
    now = Math.floor(now);
    this.db
      .prepare('UPDATE lora_mc_sessions SET mc_key = ?, mc_addr = ?, group_id = ?, frag_size = ?, parity = ?, nb_frag = ?, updated_at = ? WHERE id = ?')
      .run(g.mcKey, g.mcAddr, g.groupId, g.fragSize, g.parity, g.nbFrag, now, id);
  }

  saveSent(id: string, sent: number, now: number): void {
    now = Math.floor(now);
    this.db.prepare('UPDATE lora_mc_sessions SET sent = ?, updated_at = ? WHERE id = ?').run(sent, now, id);
  }

  saveMember(id: string, devEui: string, r: MemberResult, now: number): void {
    now = Math.floor(now);
    this.db
      .prepare('UPDATE lora_mc_members SET state = ?, missing = ?, repair_fragments = ?, reason = ?, updated_at = ? WHERE session_id = ? AND dev_eui = ?')
      .run(r.state, r.missingAfterMulticast ?? null, r.repairFragments, r.reason ?? null, now, id, devEui);
  }

  /** Members dropped before the session started (they began a unicast download meanwhile). */
  removeMember(id: string, deviceId: string): void {
    this.db.prepare('DELETE FROM lora_mc_members WHERE session_id = ? AND device_id = ?').run(id, deviceId);
  }

  /** What a restarted daemon hands FuotaSession to continue, when the group was set up before the stop. */
  resumeState(s: SessionRow): FuotaResume | undefined {
    if (!s.mcKey || s.mcAddr === null || !s.groupId || !s.fragSize || s.parity === null) return undefined;
    const members = new Map<string, MemberResult>();
    for (const m of this.members(s.id)) {
      const r: MemberResult = { state: m.state, repairFragments: m.repairFragments };
      if (m.missing !== null) r.missingAfterMulticast = m.missing;
      if (m.reason) r.reason = m.reason;
      members.set(m.devEui, r);
    }
    return { mcKey: s.mcKey, mcAddr: s.mcAddr, groupId: s.groupId, fragSize: s.fragSize, parity: s.parity, sent: s.sent, members };
  }
}
