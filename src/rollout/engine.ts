import type { Clock } from '../clock.ts';
import type { EventBus, FurrowEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { AdmitResult, CheckinFacts, PatchProvider, TransferRef, TransmitGate, UpdateDecision, UpdatePolicy } from '../policy.ts';
import type { TransferAnswer, TransferRequest } from '../schedule/scheduler.ts';
import type { DeviceRepo } from '../store/devices.ts';
import type { ReleaseRepo } from '../store/releases.ts';
import { FINISHED_MEMBER_STATES, type MemberState, type RolloutRepo, type RolloutRow, type RolloutState } from '../store/rollouts.ts';
import { selects } from './selector.ts';
import type { RolloutSpec } from './spec.ts';
import { evaluateRollout, type Evaluation } from './evaluate.ts';
import { rank, waveForLateJoiner } from './waves.ts';
import { windowHold } from './windows.ts';

/** The part of the scheduler the engine needs (a structural type keeps the modules apart). */
export interface TransferSlots {
  requestTransfer(req: TransferRequest): TransferAnswer;
  releaseTransfer(deviceId: string): void;
}

export interface EngineDeps {
  rollouts: RolloutRepo;
  devices: DeviceRepo;
  releases: ReleaseRepo;
  clock: Clock;
  log: Logger;
  events?: EventBus | undefined;
  slots?: TransferSlots | undefined;
  patches?: PatchProvider | undefined;
  /** Asked only for devices that no live rollout covers (rollouts.unmanaged: newest). */
  fallback?: UpdatePolicy | undefined;
}

interface Live {
  row: RolloutRow;
  spec: RolloutSpec;
  waveSizes: number[];
  releaseSize: number;
}

const IN_FLIGHT: readonly MemberState[] = ['offered', 'downloading', 'applied'];
const TICK_MIN_MS = 250;

/**
 * The rollout engine: answers check-ins (UpdatePolicy), takes device reports, and moves rollouts
 * through waves, soaks and halts. SQLite is the source of truth (the CLI changes rollouts beside the
 * running daemon); in memory are only parsed specs and the monotonic anchors of running soak timers.
 */
export class RolloutEngine implements UpdatePolicy, TransmitGate {
  private live: Live[] = [];
  private readonly soakAnchor = new Map<string, { wave: number; mono: number; base: number }>();
  private readonly lastState = new Map<string, RolloutState>();
  private lastTick = -Infinity;

  constructor(private readonly d: EngineDeps) {}

  usePatchProvider(p: PatchProvider): void {
    this.d.patches = p;
  }

  useFallback(p: UpdatePolicy | undefined): void {
    this.d.fallback = p;
  }

  /** Loads live rollouts and resumes their timers (soak time already served is kept). */
  start(): void {
    this.refresh();
    for (const l of this.live) {
      this.lastState.set(l.row.id, l.row.state);
      const inflight = this.d.rollouts.members(l.row.id, { states: IN_FLIGHT }).length;
      this.d.log.info({ rollout: l.row.id, state: l.row.state, wave: l.row.currentWave, inflight }, 'rollout resumed after start');
    }
    this.tick(true);
  }

  /** Persists soak progress so a restart continues where it stopped. */
  stop(): void {
    this.persistSoak();
  }

  private refresh(): void {
    this.live = this.d.rollouts.live().map((row) => {
      const spec = row.spec as RolloutSpec & { waveSizes?: number[] };
      const sizes = spec.waveSizes ?? this.d.rollouts.waves(row.id).map((w) => w.size);
      const rel = this.d.releases.get(row.releaseSha256);
      return { row, spec, waveSizes: sizes, releaseSize: rel?.size ?? 0 };
    });
    this.live.sort((a, b) => b.spec.priority - a.spec.priority || a.row.createdAt - b.row.createdAt);
  }

  decide(facts: CheckinFacts): UpdateDecision {
    this.tick(false);
    const now = this.d.clock.now();
    let covered = false;
    for (const l of this.live) {
      if (l.spec.release.product !== facts.product) continue;
      const id = l.row.id;
      let m = this.d.rollouts.member(id, facts.deviceId);
      covered ||= m !== undefined;
      if (!m) {
        if (l.row.state !== 'running' || facts.runningSha256 === l.row.releaseSha256) continue;
        const dev = this.d.devices.get(facts.deviceId);
        if (!dev || !selects(l.spec, dev)) continue;
        const r = rank(id, facts.deviceId);
        this.d.rollouts.addMember(id, facts.deviceId, Math.max(l.row.currentWave, waveForLateJoiner(r, l.waveSizes)), r, now);
        m = this.d.rollouts.member(id, facts.deviceId)!;
        covered = true;
      }
      if (FINISHED_MEMBER_STATES.includes(m.state)) continue;
      if (facts.runningSha256 === l.row.releaseSha256) {
        if (m.state === 'pending') this.d.rollouts.setMember(id, facts.deviceId, 'succeeded', now, { reason: 'already running the release' });
        // Offered and now running it: success is declared by the device's "booted" report (self-test).
        return { kind: 'none' };
      }
      if (l.row.state !== 'running') {
        if (l.row.state === 'paused' && m.state !== 'pending') return { kind: 'later', retryAfterSeconds: 3600, reason: `rollout ${id} is paused` };
        continue;
      }
      if (m.wave > l.row.currentWave) continue;
      if (l.spec.deadline && now > Date.parse(l.spec.deadline)) {
        this.transition(l, ['running'], 'expired', `deadline ${l.spec.deadline} passed`);
        continue;
      }
      const hold = windowHold(l.spec, now);
      if (hold) return { kind: 'later', retryAfterSeconds: hold.seconds, reason: hold.reason };
      const patch = facts.fullImage ? undefined : this.d.patches?.get(facts.runningSha256, l.row.releaseSha256, facts.patchFormat ?? 1, facts.inProgress?.patchId);
      if (!patch && !facts.fullImage) this.d.patches?.request(facts.runningSha256, l.row.releaseSha256, facts.patchFormat ?? 1);
      const size = patch?.size ?? l.releaseSize;
      if (m.state === 'pending' && l.spec.budget !== undefined && this.d.rollouts.bytesOffered(id) + size > l.spec.budget) {
        const reason = `byte budget of ${l.spec.budget} bytes is spent (${this.d.rollouts.bytesOffered(id)} offered); raise budget and re-apply, then resume`;
        this.transition(l, ['running'], 'paused', reason);
        return { kind: 'later', retryAfterSeconds: 3600, reason };
      }
      const offset = facts.inProgress?.offset ?? 0;
      const answer = this.d.slots?.requestTransfer({
        deviceId: facts.deviceId,
        bearer: facts.bearer,
        bytes: Math.max(1, size - offset),
        rsrp: facts.rsrp,
        snr: facts.snr,
        priority: l.spec.priority,
      });
      if (answer && !answer.ok) return { kind: 'later', retryAfterSeconds: answer.retryAfterSeconds, reason: answer.reason };
      if (m.state === 'pending') this.d.rollouts.setMember(id, facts.deviceId, 'offered', now, { fromSha256: facts.runningSha256, bytes: size });
      return { kind: 'update', releaseSha256: l.row.releaseSha256, rolloutId: id };
    }
    if (!covered && this.d.fallback) return this.d.fallback.decide(facts);
    return { kind: 'none' };
  }

  /**
   * Per block (TransmitGate, chained before the scheduler): a transfer of a rollout's release that is
   * under way when a maintenance window begins is held until the window ends, not only new offers.
   * Blocks of anything this engine did not hand out (no in-flight membership for that release) pass.
   */
  admit(_bearer: string, deviceId: string, _bytes: number, transfer?: TransferRef): AdmitResult {
    if (!transfer) return { ok: true };
    this.tick(false);
    const now = this.d.clock.now();
    for (const l of this.live) {
      if (l.row.releaseSha256 !== transfer.releaseSha256) continue;
      const m = this.d.rollouts.member(l.row.id, deviceId);
      if (!m || !IN_FLIGHT.includes(m.state)) continue;
      const hold = windowHold(l.spec, now);
      if (hold) return { ok: false, retryAfterSeconds: hold.seconds, reason: hold.reason };
    }
    return { ok: true };
  }

  /** A device report (POST /r) moves its membership on and may trip a halt. */
  onReport(e: FurrowEvents['device.report']): void {
    const now = this.d.clock.now();
    for (const m of this.d.rollouts.memberships(e.deviceId)) {
      if (FINISHED_MEMBER_STATES.includes(m.state) || m.state === 'pending') continue;
      const l = this.live.find((x) => x.row.id === m.rolloutId);
      const target = l?.row.releaseSha256;
      let next: MemberState | undefined;
      let reason = e.reason ?? null;
      if (e.status === 'downloading') next = m.state === 'offered' ? 'downloading' : undefined;
      else if (e.status === 'applied') next = 'applied';
      else if (e.status === 'booted') {
        if (!e.releaseSha256 || e.releaseSha256 === target) next = 'succeeded';
        else {
          next = 'failed';
          reason = `booted ${e.releaseSha256.slice(0, 12)} instead of the release`;
        }
      } else if (e.status === 'failed') next = 'failed';
      else if (e.status === 'rolled_back') next = 'rolled_back';
      if (!next) continue;
      this.d.rollouts.setMember(m.rolloutId, e.deviceId, next, now, { reason });
      if (next !== 'downloading') this.d.slots?.releaseTransfer(e.deviceId);
      if (l) this.evaluate(l, true);
    }
  }

  /** Periodic and lazy: picks up CLI changes, runs soak timers, deadlines and thresholds. */
  tick(force: boolean): void {
    const mono = this.d.clock.monotonic();
    if (!force && mono - this.lastTick < TICK_MIN_MS) return;
    this.lastTick = mono;
    this.refresh();
    const seen = new Set<string>();
    for (const l of this.live) {
      seen.add(l.row.id);
      const prev = this.lastState.get(l.row.id);
      if (prev !== l.row.state) {
        this.lastState.set(l.row.id, l.row.state);
        if (prev !== undefined) this.emitState(l.row.id, l.row.state, l.row.reason ?? undefined, l.row.currentWave);
      }
      if (l.row.state !== 'running') {
        this.soakAnchor.delete(l.row.id);
        continue;
      }
      if (l.spec.deadline && this.d.clock.now() > Date.parse(l.spec.deadline)) {
        this.transition(l, ['running'], 'expired', `deadline ${l.spec.deadline} passed`);
        continue;
      }
      this.evaluate(l, false);
    }
    for (const id of [...this.lastState.keys()]) {
      if (seen.has(id)) continue;
      const row = this.d.rollouts.get(id);
      if (row) this.emitState(id, row.state, row.reason ?? undefined, row.currentWave);
      this.lastState.delete(id);
    }
  }

  private evaluate(l: Live, counted: boolean): void {
    const row = this.d.rollouts.get(l.row.id);
    if (!row || row.state !== 'running') return;
    l.row = row;
    const mono = this.d.clock.monotonic();
    const waves = this.d.rollouts.waves(row.id);
    const counts = this.d.rollouts.counts(row.id);
    let anchor = this.soakAnchor.get(row.id);
    const cur = waves[row.currentWave];
    if (cur?.state === 'soaking' && (!anchor || anchor.wave !== cur.wave)) {
      anchor = { wave: cur.wave, mono, base: cur.soakElapsedMs };
      this.soakAnchor.set(row.id, anchor);
    }
    const soakElapsed = anchor ? anchor.base + (mono - anchor.mono) : 0;
    const ev: Evaluation = evaluateRollout(l.spec, row, waves, counts, soakElapsed);
    if (counted) {
      const total = counts.reduce((a, c) => a + c.members, 0);
      const updated = counts.reduce((a, c) => a + c.succeeded, 0);
      const failed = counts.reduce((a, c) => a + c.failed + c.rolledBack, 0);
      const inProgress = counts.reduce((a, c) => a + c.inProgress, 0);
      this.d.events?.emit('rollout.progress', { rolloutId: row.id, wave: row.currentWave, total, updated, failed, inProgress });
    }
    const now = this.d.clock.now();
    if (ev.action === 'halt') {
      this.transition(l, ['running'], 'halted', ev.reason);
      this.d.log.warn({ rollout: row.id, wave: row.currentWave, reason: ev.reason }, 'rollout halted automatically');
    } else if (ev.action === 'soak') {
      this.d.rollouts.setWave(row.id, row.currentWave, { state: 'soaking', soakStartedAt: now, soakElapsedMs: 0 });
      this.soakAnchor.set(row.id, { wave: row.currentWave, mono, base: 0 });
      this.d.rollouts.log(row.id, 'soaking', row.currentWave, ev.reason, now);
      this.emitState(row.id, 'soaking', ev.reason, row.currentWave);
      // A zero soak ends at once.
      if ((l.spec.waves[row.currentWave]?.soak ?? 0) === 0) this.evaluate(l, false);
    } else if (ev.action === 'advance') {
      this.d.rollouts.advance(row.id, row.currentWave, now);
      this.soakAnchor.delete(row.id);
      this.emitState(row.id, 'running', ev.reason, row.currentWave + 1);
      this.d.log.info({ rollout: row.id, wave: row.currentWave + 1 }, 'next wave started');
    } else if (ev.action === 'complete') {
      this.d.rollouts.setWave(row.id, row.currentWave, { state: 'done', doneAt: now });
      this.transition(l, ['running'], 'completed', ev.reason);
      this.soakAnchor.delete(row.id);
    } else if (anchor && cur?.state === 'soaking' && Math.abs(cur.soakElapsedMs - soakElapsed) >= 1000) {
      this.d.rollouts.setWave(row.id, cur.wave, { soakElapsedMs: Math.floor(soakElapsed) });
    }
    if (ev.action !== 'none') l.row = this.d.rollouts.get(row.id) ?? l.row;
  }

  private transition(l: Live, from: readonly RolloutState[], to: RolloutState, reason: string): void {
    if (!this.d.rollouts.transition(l.row.id, from, to, reason, this.d.clock.now())) return;
    l.row = { ...l.row, state: to, reason };
    this.lastState.set(l.row.id, to);
    this.emitState(l.row.id, to, reason, l.row.currentWave);
    if (to !== 'running') for (const m of this.d.rollouts.members(l.row.id, { states: ['offered', 'downloading'] })) this.d.slots?.releaseTransfer(m.deviceId);
  }

  private emitState(rolloutId: string, state: string, reason: string | undefined, wave: number): void {
    const payload: FurrowEvents['rollout.state'] = { rolloutId, state, wave };
    if (reason) payload.reason = reason;
    this.d.events?.emit('rollout.state', payload);
  }

  private persistSoak(): void {
    const mono = this.d.clock.monotonic();
    for (const [id, a] of this.soakAnchor) {
      try {
        this.d.rollouts.setWave(id, a.wave, { soakElapsedMs: Math.floor(a.base + (mono - a.mono)) });
      } catch (err) {
        this.d.log.error({ rollout: id, err }, 'could not save soak progress');
      }
    }
  }
}
