import type { DaemonContext } from '../../../context.ts';
import { errorMessage } from '../../../errors.ts';
import type { Logger } from '../../../log.ts';
import type { CheckinFacts, PatchProvider, TransmitGate, UpdateDecision, UpdatePolicy } from '../../../policy.ts';
import type { RolloutSpec } from '../../../rollout/spec.ts';
import { windowHold, windowVerdict } from '../../../rollout/windows.ts';
import type { Service } from '../../../service.ts';
import { PatchRepo } from '../../../store/patches.ts';
import { RolloutRepo } from '../../../store/rollouts.ts';
import { MulticastApi } from '../chirpstack/multicast-api.ts';
import type { ClockPort } from '../clock-sync-service.ts';
import type { LoraTransport } from '../transport.ts';
import { groupFormatCap, loraIdentities, multicastCandidates } from './candidates.ts';
import { FuotaSession } from './session.ts';
import { MulticastRepo, type SessionRow } from './store.ts';
import { plural } from '../../../text.ts';

const TICK_MS = 1000;
/** A device held for a session checks in again after this long (it listens to the group meanwhile). */
const HOLD_RETRY_SECONDS = 600;

export interface MulticastDeps {
  transport: LoraTransport;
  /** The scheduler: every fragment is admitted on lora.multicast.scheduleBearer. */
  gate: TransmitGate;
  patches?: PatchProvider;
  clock?: ClockPort;
  /** Pacing waits; tests pass a virtual clock's sleep. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs LoRa multicast FUOTA sessions for rollouts: queues one when a running wave of a rollout with
 * `delivery: { lora: multicast }` has at least minGroupSize LoRa devices waiting for the same patch
 * (or when `furrow lora multicast start` queued one), runs them one at a time (one radio), and keeps
 * every checkpoint in SQLite so a restarted daemon resumes the session where it stopped. Devices in a
 * session are offered the release (state `offered`) and told to check in later; their own report
 * (POST /r) counts for the rollout as usual. A member the session could not serve is failed over: its
 * next check-in gets the unicast CoAP download.
 */
export class LoraMulticastService implements Service {
  readonly name = 'lora-multicast';
  private readonly log: Logger;
  private readonly repo: MulticastRepo;
  private readonly rollouts: RolloutRepo;
  private timer: NodeJS.Timeout | undefined;
  private running: { id: string; abort: AbortController; done: Promise<void> } | undefined;
  /** Devices the last scan found in a group big enough, waiting only for the patch to be built. */
  private gathering = new Set<string>();
  private stopped = false;
  private warned: string | undefined;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly deps: MulticastDeps,
  ) {
    this.log = ctx.log.child({ module: 'lora.multicast' });
    this.repo = new MulticastRepo(ctx.db);
    this.rollouts = new RolloutRepo(ctx.db);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const open = this.repo.list({ states: ['setup', 'broadcast', 'status', 'repair'] });
    if (open.length) this.log.info({ sessions: open.map((s) => `${s.id}:${s.state}`) }, 'multicast sessions to resume after restart');
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.tick();
  }

  /** Stops the running session without ending it: its checkpoint and ChirpStack group stay for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const r = this.running;
    if (r) {
      r.abort.abort('suspend');
      await r.done;
    }
  }

  /** The update policy the CoAP server asks: members of a session wait for it instead of downloading. */
  policy(inner: UpdatePolicy): UpdatePolicy {
    return {
      decide: (facts: CheckinFacts): UpdateDecision => {
        const s = this.repo.holding(facts.deviceId);
        if (s) return { kind: 'later', retryAfterSeconds: HOLD_RETRY_SECONDS, reason: `in LoRa multicast session ${s.id} (${s.state})` };
        if (this.gathering.has(facts.deviceId)) return { kind: 'later', retryAfterSeconds: HOLD_RETRY_SECONDS, reason: 'waiting for a LoRa multicast session' };
        const d = inner.decide(facts);
        if (d.kind !== 'update') return d;
        // a member that rebuilt the broadcast patch is offered that patch, not another build of the move
        const held = this.repo.receivedPatch(facts.deviceId, facts.runningSha256, d.releaseSha256);
        return held ? { ...d, patchId: held } : d;
      },
    };
  }

  tick(): void {
    if (this.stopped) return;
    try {
      for (const q of this.repo.list({ states: ['queued'] })) if (q.cancelRequested) this.repo.setState(q.id, 'cancelled', this.ctx.clock.now(), 'cancelled by the operator');
      // Groups are queued while another session runs: their devices wait for it instead of going unicast.
      this.scan();
      if (this.running) {
        const s = this.repo.get(this.running.id);
        const rollout = s ? this.rollouts.get(s.rolloutId) : undefined;
        if (s?.cancelRequested) this.running.abort.abort('cancelled by the operator');
        // A halt is a safety stop: the broadcast stops with it. A pause holds the broadcast (rolloutHold).
        else if (s && !['running', 'paused'].includes(rollout?.state ?? 'gone')) this.running.abort.abort(`rollout ${s.rolloutId} is ${rollout?.state ?? 'gone'}`);
        return;
      }
      const next = this.repo.list({ states: ['setup', 'broadcast', 'status', 'repair'] })[0] ?? this.repo.list({ states: ['queued'] }).find((s) => this.mayStart(s));
      if (next) this.launch(next);
    } catch (err) {
      this.log.error({ err }, 'multicast tick failed');
    }
  }

  /** A queued session waits while its rollout is paused or inside a deny window; ends with the rollout. */
  private mayStart(s: SessionRow): boolean {
    const row = this.rollouts.get(s.rolloutId);
    const now = this.ctx.clock.now();
    if (!row || !['running', 'paused', 'halted'].includes(row.state)) {
      this.repo.setState(s.id, 'cancelled', now, `rollout ${s.rolloutId} is ${row?.state ?? 'gone'}`);
      return false;
    }
    return row.state === 'running' && windowVerdict(row.spec as RolloutSpec, now).open;
  }

  /** A paused rollout or a closed maintenance window holds the broadcast, as it holds unicast blocks. */
  private rolloutHold(rolloutId: string): { seconds: number; reason: string } | undefined {
    const row = this.rollouts.get(rolloutId);
    if (!row) return undefined;
    if (row.state === 'paused') return { seconds: 60, reason: `rollout ${rolloutId} is paused` };
    return windowHold(row.spec as RolloutSpec, this.ctx.clock.now());
  }

  /** Rollouts that opted in: queue a session per group of LoRa devices big enough. */
  private scan(): void {
    const cfg = this.ctx.config.lora;
    const gathering = new Set<string>();
    if (!cfg) return;
    for (const row of this.rollouts.live()) {
      const spec = row.spec as RolloutSpec;
      if (row.state !== 'running' || spec.delivery?.lora !== 'multicast') continue;
      // A config that cannot run a session leaves the devices to unicast instead of queuing failures.
      const problem = this.configProblem(cfg);
      if (problem) {
        if (this.warned !== problem) this.log.warn({ rollout: row.id, problem }, 'rollout asks for LoRa multicast but it cannot run; its devices get unicast');
        this.warned = problem;
        continue;
      }
      const c = multicastCandidates(this.ctx.db, cfg, row.id, row.currentWave, row.releaseSha256);
      for (const g of c.groups) {
        if (g.members.length < spec.delivery.minGroupSize) continue;
        const formatCap = groupFormatCap(this.ctx.db, g, this.ctx.config.delta.formatVersion);
        const patch = new PatchRepo(this.ctx.db).best(g.fromSha256, row.releaseSha256, formatCap);
        if (!patch) {
          this.deps.patches?.request(g.fromSha256, row.releaseSha256, formatCap);
          for (const m of g.members) gathering.add(m.deviceId);
          continue;
        }
        const id = this.repo.create(
          { rolloutId: row.id, wave: row.currentWave, fromSha256: g.fromSha256, toSha256: row.releaseSha256, patchId: patch.id, patchSize: patch.size, origin: 'rollout', members: g.members },
          this.ctx.clock.now(),
        );
        this.log.info({ session: id, rollout: row.id, wave: row.currentWave, members: g.members.length, patchBytes: patch.size }, 'multicast session queued for a rollout wave');
      }
    }
    this.gathering = gathering;
  }

  private launch(s: SessionRow): void {
    const abort = new AbortController();
    const done = this.runSession(s, abort.signal)
      .catch((err: unknown) => this.log.error({ err, session: s.id }, 'multicast session crashed'))
      .finally(() => {
        if (this.running?.id === s.id) this.running = undefined;
      });
    this.running = { id: s.id, abort, done };
  }

  private async runSession(s: SessionRow, signal: AbortSignal): Promise<void> {
    const cfg = this.ctx.config.lora;
    const now = (): number => this.ctx.clock.now();
    // Members of a session that never ran are failed over with it, or the next scan would queue them again.
    const fail = (reason: string): void => {
      this.repo.setState(s.id, 'failed', now(), reason);
      for (const m of this.repo.members(s.id)) if (m.state !== 'complete') this.repo.saveMember(s.id, m.devEui, { state: 'failed', repairFragments: m.repairFragments, reason }, now());
      this.log.warn({ session: s.id, reason }, 'multicast session failed; its devices get unicast');
    };
    if (!cfg) return fail('the lora: section is gone from furrow.yaml');
    const problem = this.configProblem(cfg);
    if (problem) return fail(problem);
    const ids = loraIdentities(cfg);
    const resume = s.state === 'queued' ? undefined : this.repo.resumeState(s);
    if (s.state !== 'queued' && !resume) return fail('the daemon stopped before the multicast group existed; nothing was sent, so the devices get unicast');
    // A queued session takes only devices still waiting: one that started a unicast download meanwhile keeps it.
    const members = [];
    for (const m of this.repo.members(s.id)) {
      const rm = this.rollouts.member(s.rolloutId, m.deviceId);
      const key = ids.get(m.deviceId)?.genAppKey;
      if (!resume && (rm?.state !== 'pending' || !key)) {
        this.repo.removeMember(s.id, m.deviceId);
        continue;
      }
      if (!key) continue;
      members.push({ devEui: m.devEui, genAppKey: key, deviceId: m.deviceId });
    }
    if (members.length === 0) return this.repo.setState(s.id, 'cancelled', now(), 'no member is still waiting for this patch');
    if (!this.ctx.blobs.has(s.patchId)) return fail(`patch blob ${s.patchId.slice(0, 12)} is missing from the blob store`);
    const data = this.ctx.blobs.get(s.patchId);
    if (!resume) {
      for (const m of members) this.rollouts.setMember(s.rolloutId, m.deviceId, 'offered', now(), { fromSha256: s.fromSha256, bytes: s.patchSize, reason: `LoRa multicast session ${s.id}` });
      this.repo.setState(s.id, 'setup', now());
    }
    const mc = cfg.multicast;
    this.log.info({ session: s.id, rollout: s.rolloutId, members: members.length, resumed: !!resume, sent: resume?.sent ?? 0 }, resume ? 'multicast session resumed' : 'multicast session started');
    const session = new FuotaSession({
      transport: this.deps.transport,
      api: new MulticastApi(cfg.chirpstack.apiUrl!, cfg.chirpstack.apiToken),
      gate: this.deps.gate,
      gateBearer: mc.scheduleBearer,
      hold: () => this.rolloutHold(s.rolloutId),
      sleep: (ms) => this.sleep(ms, signal),
      now,
      log: this.ctx.log,
      applicationId: cfg.chirpstack.applicationId,
      config: mc,
      members,
      data,
      answerTimeoutMs: mc.answerTimeoutSeconds * 1000,
      maxAttempts: mc.maxAttempts,
      repairDeadlineMs: mc.repairDeadlineSeconds * 1000,
      signal,
      ...(this.deps.clock ? { clock: this.deps.clock } : {}),
      ...(resume ? { resume } : {}),
      onStarted: (g) => this.repo.saveGroup(s.id, { ...g, nbFrag: Math.ceil(data.length / g.fragSize) }, now()),
      onPhase: (phase) => this.repo.setState(s.id, phase, now()),
      onMember: (eui, r) => this.repo.saveMember(s.id, eui, r, now()),
      // One row update per fragment: seconds apart on air, and a resume then sends no fragment twice.
      onProgress: (sent) => this.repo.saveSent(s.id, sent, now()),
    });
    try {
      const result = await session.run();
      for (const [eui, r] of result.members) this.repo.saveMember(s.id, eui, r, now());
      const complete = [...result.members.values()].filter((r) => r.state === 'complete').length;
      this.repo.setState(s.id, 'done', now(), `${complete} of ${plural(result.members.size, 'device')} rebuilt the patch`);
      this.log.info({ session: s.id, complete, members: result.members.size, multicastFrames: result.multicast.frames, unicastFrames: result.unicast.frames }, 'multicast session done');
    } catch (err) {
      if (signal.aborted && signal.reason === 'suspend') {
        this.log.info({ session: s.id }, 'multicast session suspended; it resumes when the daemon starts again');
        return;
      }
      const reason = signal.aborted ? String(signal.reason) : errorMessage(err);
      this.repo.setState(s.id, signal.aborted ? 'cancelled' : 'failed', now(), reason);
      for (const m of this.repo.members(s.id)) {
        if (m.state !== 'complete') this.repo.saveMember(s.id, m.devEui, { state: 'failed', repairFragments: m.repairFragments, reason }, now());
      }
      this.log.warn({ session: s.id, reason }, 'multicast session ended early; devices that did not rebuild the patch get unicast');
    }
  }

  /**
   * Pacing waits end early when the session is stopped. A clock that can skip time (the tests' virtual
   * clock, which the scheduler also reads) skips the wait instead of sleeping through it.
   */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    const clock = this.ctx.clock as { sleep?: (ms: number) => Promise<void> };
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = this.deps.sleep || clock.sleep ? undefined : setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      if (t === undefined) void (this.deps.sleep ?? clock.sleep!.bind(clock))(ms).then(done);
    });
  }

  /** What keeps a session from running at all, said so the operator can fix furrow.yaml. */
  private configProblem(cfg: NonNullable<DaemonContext['config']['lora']>): string | undefined {
    if (!cfg.chirpstack.apiUrl) return 'lora.chirpstack.apiUrl is not set: multicast groups need the ChirpStack REST API';
    const b = cfg.multicast.scheduleBearer;
    const model = this.ctx.config.schedule.bearers[b];
    if (!model || model.kind !== 'lora') return `schedule.bearers.${b} (kind: lora) is missing: the multicast fragments must be paced by the duty cycle (lora.multicast.scheduleBearer)`;
    if (b === cfg.name) return `lora.multicast.scheduleBearer must not be the unicast bearer ${b}; give the multicast its own schedule.bearers entry`;
    return undefined;
  }

  /** For tests and status: the session being run now. */
  get current(): string | undefined {
    return this.running?.id;
  }
}
