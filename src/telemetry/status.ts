import type { Db } from '../store/database.ts';
import { Outbox, PLAUSIBLE_WALL_MS } from '../store/outbox.ts';
import { RolloutRepo } from '../store/rollouts.ts';
import type { TelemetryState } from './state.ts';

/** What `furrow status` shows; the daemon serves it at /status, the CLI builds it from the DB otherwise. */
export interface StatusSnapshot {
  source: 'daemon' | 'database';
  gateway: string;
  generatedAt: string;
  daemon: { pid: number; startedAt: string; uptimeSeconds: number; ready: boolean } | null;
  mqtt: { enabled: boolean; connected: boolean | null; since: string | null; lastError: string | null; published: number | null };
  outbox: { depth: number; oldestPendingAgeSeconds: number | null; lastAckedSeq: number; droppedTotal: number };
  counts: { devices: number; releases: number; transfersActive: number };
  rollouts: Array<{
    id: string;
    state: string;
    wave: number;
    reason: string | null;
    release: string;
    updatedAt: string;
    progress: { total: number; updated: number; failed: number; inProgress: number } | null;
  }>;
  transfers: Array<{ deviceId: string; patchId: string; state: string; offset: number; size: number; percent: number; bearer: string | null; lastSeenAt: string }>;
  modem: { model: string; registered: boolean; rsrp?: number; rsrq?: number; sinr?: number; csq?: number; ceLevel?: number; cellId?: string; at: string } | null;
  budgets: Array<{ bearer: string; dutyCycleUsed: number; queueLength: number; bytesUsed?: number; bytesBudget?: number }>;
}

const MAX_TRANSFERS = 50;

const iso = (ms: number) => new Date(ms).toISOString();

/** Builds the snapshot from the shared tables, adding what only the running daemon knows when `live` is given. */
export function collectStatus(db: Db, opts: { gatewayId: string; now: number; mqttEnabled: boolean; live?: TelemetryState }): StatusSnapshot {
  const outbox = new Outbox(db);
  const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const oldest = outbox.oldestPending();
  const live = opts.live;
  const rolloutRepo = new RolloutRepo(db);
  const rollouts = (
    db
      .prepare(
        `SELECT r.id, r.state, r.current_wave, r.reason, r.updated_at, coalesce(rel.product || ' ' || rel.version, r.release_sha256) AS release
           FROM rollouts r LEFT JOIN releases rel ON rel.sha256 = r.release_sha256
          ORDER BY r.updated_at DESC LIMIT 20`,
      )
      .all() as Array<{ id: string; state: string; current_wave: number; reason: string | null; updated_at: number; release: string }>
  ).map((r) => {
    const liveProgress = live?.rollouts.get(r.id);
    const p = liveProgress ?? storedProgress(rolloutRepo, r.id);
    return {
      id: r.id,
      state: r.state,
      wave: liveProgress?.wave ?? r.current_wave,
      reason: r.reason,
      release: r.release,
      updatedAt: iso(r.updated_at),
      progress: p ? { total: p.total, updated: p.updated, failed: p.failed, inProgress: p.inProgress } : null,
    };
  });
  const transfers = (
    db
      .prepare(
        `SELECT device_id, patch_id, state, offset, size, bearer, last_seen_at FROM transfers
          WHERE state IN ('active', 'paused') ORDER BY last_seen_at DESC LIMIT ${MAX_TRANSFERS}`,
      )
      .all() as Array<{ device_id: string; patch_id: string; state: string; offset: number; size: number; bearer: string | null; last_seen_at: number }>
  ).map((t) => ({
    deviceId: t.device_id,
    patchId: t.patch_id,
    state: t.state,
    offset: t.offset,
    size: t.size,
    percent: t.size > 0 ? Math.min(100, (100 * t.offset) / t.size) : 0,
    bearer: t.bearer,
    lastSeenAt: iso(t.last_seen_at),
  }));
  const modem = live?.modem ? { ...live.modem, at: iso(live.modem.at) } : null;
  return {
    source: live ? 'daemon' : 'database',
    gateway: opts.gatewayId,
    generatedAt: iso(opts.now),
    daemon: live ? { pid: process.pid, startedAt: iso(live.startedAt), uptimeSeconds: Math.round((opts.now - live.startedAt) / 1000), ready: live.ready } : null,
    mqtt: {
      enabled: opts.mqttEnabled,
      connected: live ? live.mqtt.connected : null,
      since: live && live.mqtt.since ? iso(live.mqtt.since) : null,
      lastError: live?.mqtt.lastError ?? null,
      published: live ? live.mqtt.published : null,
    },
    outbox: {
      depth: outbox.depth(),
      oldestPendingAgeSeconds: oldest && oldest.createdAt >= PLAUSIBLE_WALL_MS && opts.now >= PLAUSIBLE_WALL_MS ? Math.max(0, Math.round((opts.now - oldest.createdAt) / 1000)) : null,
      lastAckedSeq: outbox.lastAckedSeq(),
      droppedTotal: outbox.droppedTotal(),
    },
    counts: {
      devices: n('SELECT count(*) AS n FROM devices'),
      releases: n('SELECT count(*) AS n FROM releases'),
      transfersActive: n("SELECT count(*) AS n FROM transfers WHERE state = 'active'"),
    },
    rollouts,
    transfers,
    modem,
    budgets: live ? [...live.budgets.values()].map(({ at: _at, ...b }) => b) : [],
  };
}

/**
 * Device counts of a rollout from the store, the same sums the rollout engine announces in rollout.progress;
 * used when no event has arrived yet (right after a start) or without a daemon.
 */
function storedProgress(repo: RolloutRepo, id: string): { total: number; updated: number; failed: number; inProgress: number } | undefined {
  let counts;
  try {
    counts = repo.counts(id);
  } catch {
    return undefined; // an older database without the rollout tables
  }
  if (counts.length === 0) return undefined;
  return {
    total: counts.reduce((a, c) => a + c.members, 0),
    updated: counts.reduce((a, c) => a + c.succeeded, 0),
    failed: counts.reduce((a, c) => a + c.failed + c.rolledBack, 0),
    inProgress: counts.reduce((a, c) => a + c.inProgress, 0),
  };
}
