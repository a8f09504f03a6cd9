/**
 * The Object 5 pull flow (Core §E.6, Figure: Firmware Update State Machine), driven by the rollout
 * engine exactly like a furrow check-in: at each Register/Update the engine is asked (which also admits
 * the transfer with the scheduler, before a byte is promised); when it says update, /5/0/1 gets a
 * per-device, per-release Package URI. /5/0/3 (State) and /5/0/5 (Result) are observed: Downloading and
 * Downloaded move the rollout membership on, Downloaded triggers Execute /5/0/2, Result 1 or a
 * re-registration that reports the release's version in /3/0/3 is success, results 2..10 are failures.
 * State reported out of order (Downloaded for a URI never written, Updating before Execute) is logged and
 * ignored: the stored flow never moves on a client's word alone.
 */
import { randomBytes } from 'node:crypto';
import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import type { UpdatePolicy } from '../policy.ts';
import type { DeviceRepo, DeviceRow } from '../store/devices.ts';
import type { FirmwareRow, Lwm2mRepo, Registration } from '../store/lwm2m.ts';
import type { ReleaseRepo } from '../store/releases.ts';
import type { ResourceValue } from './content.ts';
import type { DeviceManager } from './device-manager.ts';
import { FwState, resultMeaning } from './update-result.ts';

export interface FirmwareFlowDeps {
  repo: Lwm2mRepo;
  releases: ReleaseRepo;
  devices: DeviceRepo;
  dm: DeviceManager;
  policy: UpdatePolicy;
  events: EventBus;
  log: Logger;
  now: () => number;
  /** coap://host:port the client downloads from. */
  packageBase: () => string;
  packageSize: (releaseSha256: string) => { id: string; size: number };
  beginTransfer: (deviceId: string, packageId: string, size: number, bearer: string) => void;
}

const ACTIVE: ReadonlyArray<FirmwareRow['phase']> = ['uri-written', 'downloading', 'downloaded', 'updating'];

const num = (vals: ResourceValue[], path: string): number | undefined => {
  const v = vals.find((x) => x.path === path)?.value;
  return typeof v === 'number' ? v : undefined;
};

export class FirmwareFlow {
  readonly stats = { urisWritten: 0, executes: 0, succeeded: 0, failed: 0, ignoredStates: 0 };

  constructor(private readonly d: FirmwareFlowDeps) {}

  /** After a Register/Update and the /3/0 read: settle a pending update, observe Object 5, ask the engine. */
  async onContact(reg: Registration, device: DeviceRow, runningSha256: string, fresh: boolean): Promise<void> {
    const ep = reg.endpoint;
    const row = this.d.repo.firmware(ep);
    if (row && ACTIVE.includes(row.phase)) {
      const rel = this.d.releases.get(row.releaseSha256);
      // Success by re-registration: the client now runs the release (its /3/0/3 says so).
      if (rel && runningSha256 === rel.sha256) return this.finish(row, 'booted', `re-registered running ${rel.version}`);
    }
    if (fresh || !this.d.dm.isObserving(ep, '/5/0/3')) await this.observe(ep);
    const current = this.d.repo.firmware(ep);
    if (current && ACTIVE.includes(current.phase)) return;
    const decision = this.d.policy.decide({ deviceId: ep, product: device.product, runningSha256, bearer: reg.bearer });
    if (decision.kind !== 'update' || decision.releaseSha256 === runningSha256) {
      if (decision.kind === 'later') this.d.log.debug({ endpoint: ep, retryAfterSeconds: decision.retryAfterSeconds, reason: decision.reason }, 'LwM2M update not now');
      return;
    }
    await this.offer(reg, device, decision.releaseSha256, decision.rolloutId ?? null);
  }

  private async offer(reg: Registration, device: DeviceRow, releaseSha256: string, rolloutId: string | null): Promise<void> {
    const ep = reg.endpoint;
    const prev = this.d.repo.firmware(ep);
    // The URI names one device's one release and is never reused for other bytes; the same pair keeps its
    // token, so a client resuming after a restart finds the same URI and ETag.
    const token = prev && prev.releaseSha256 === releaseSha256 ? prev.token : randomBytes(12).toString('base64url');
    const pkg = this.d.packageSize(releaseSha256);
    this.d.repo.startFirmware({ deviceId: ep, releaseSha256, rolloutId, token, fromVersion: device.runningVersion }, this.d.now());
    this.d.beginTransfer(ep, pkg.id, pkg.size, reg.bearer);
    const uri = `${this.d.packageBase()}/fw/${token}`;
    try {
      await this.d.dm.write(ep, '/5/0/1', uri).catch(async (err: Error) => {
        // A client without a response cache (Anjay's demo by default) handles a retransmitted Write again and
        // refuses it (4.00) because the first one already started the download: its State says so.
        const st = await this.d.dm.read(ep, '/5/0/3').catch(() => []);
        const state = num(st, '/5/0/3');
        if (state !== FwState.Downloading && state !== FwState.Downloaded) throw err;
        this.d.log.info({ endpoint: ep, state, err: err.message }, 'Package URI write answered with an error, but the client is downloading: taken as written');
      });
    } catch (err) {
      this.d.repo.setFirmware(ep, { phase: 'failed', reason: `Package URI write failed: ${(err as Error).message}` }, this.d.now());
      this.d.log.warn({ endpoint: ep, err: (err as Error).message }, 'could not write the Package URI; the engine is asked again at the next Update');
      this.d.events.emit('device.report', { deviceId: ep, status: 'failed', reason: 'package URI write refused', releaseSha256 });
      return;
    }
    this.stats.urisWritten++;
    this.d.log.info({ endpoint: ep, release: releaseSha256.slice(0, 12), rollout: rolloutId, uri, bytes: pkg.size }, 'LwM2M Package URI written');
    this.d.events.emit('lwm2m.firmware', { endpoint: ep, phase: 'uri-written', releaseSha256 });
  }

  private async observe(ep: string): Promise<void> {
    for (const path of ['/5/0/3', '/5/0/5']) {
      try {
        const first = await this.d.dm.observe(ep, path, (v) => this.onValue(ep, v));
        this.onValue(ep, first);
      } catch (err) {
        this.d.log.warn({ endpoint: ep, path, err: (err as Error).message }, 'could not observe Object 5');
      }
    }
  }

  /** A notification (or first value) of State or Result. */
  onValue(ep: string, vals: ResourceValue[]): void {
    const state = num(vals, '/5/0/3');
    const result = num(vals, '/5/0/5');
    const row = this.d.repo.firmware(ep);
    if (!row || !ACTIVE.includes(row.phase)) {
      if (state !== undefined && state !== FwState.Idle) this.ignored(ep, `State ${state} with no update under way`);
      return;
    }
    const now = this.d.now();
    if (result !== undefined) {
      this.d.repo.setFirmware(ep, { fwResult: result }, now);
      const m = resultMeaning(result);
      if (m.report === 'booted') {
        if (row.phase !== 'updating') return this.ignored(ep, `Result 1 (success) before Execute was sent (phase ${row.phase})`);
        return this.finish(row, 'booted', m.text);
      }
      if (m.report) return this.finish(row, m.report, `Update Result ${result}: ${m.text} (${m.failureClass})`);
    }
    if (state === undefined) return;
    this.d.repo.setFirmware(ep, { fwState: state }, now);
    if (state === FwState.Downloading && row.phase === 'uri-written') {
      this.d.repo.setFirmware(ep, { phase: 'downloading' }, now);
      this.d.events.emit('device.report', { deviceId: ep, status: 'downloading', releaseSha256: row.releaseSha256 });
      this.d.events.emit('lwm2m.firmware', { endpoint: ep, phase: 'downloading', releaseSha256: row.releaseSha256 });
    } else if (state === FwState.Downloaded && (row.phase === 'uri-written' || row.phase === 'downloading')) {
      this.d.repo.setFirmware(ep, { phase: 'downloaded' }, now);
      this.d.events.emit('lwm2m.firmware', { endpoint: ep, phase: 'downloaded', releaseSha256: row.releaseSha256 });
      void this.execute(row);
    } else if (state === FwState.Updating && row.phase !== 'updating' && row.phase !== 'downloaded') {
      this.ignored(ep, `State Updating (3) in phase ${row.phase}, before Execute`);
    } else if (state === FwState.Idle && row.phase === 'downloading') {
      // Back to Idle mid-download without a Result: the client gave up (or was reset); the next Result says why.
      this.d.log.info({ endpoint: ep }, 'client went back to Idle during the download');
    }
  }

  private async execute(row: FirmwareRow): Promise<void> {
    const ep = row.deviceId;
    this.d.repo.setFirmware(ep, { phase: 'updating' }, this.d.now());
    this.d.events.emit('device.report', { deviceId: ep, status: 'applied', releaseSha256: row.releaseSha256 });
    try {
      await this.d.dm.execute(ep, '/5/0/2');
      this.stats.executes++;
      this.d.log.info({ endpoint: ep, release: row.releaseSha256.slice(0, 12) }, 'LwM2M firmware Update executed');
      this.d.events.emit('lwm2m.firmware', { endpoint: ep, phase: 'updating', releaseSha256: row.releaseSha256 });
    } catch (err) {
      // A client that installs at once may drop the exchange (it reboots); its Result or re-registration decides.
      this.d.log.warn({ endpoint: ep, err: (err as Error).message }, 'Execute /5/0/2 got no clean answer; waiting for Result or re-registration');
    }
  }

  /** The transfer cap was hit: the download is ended as a failure of class transfer. */
  capExceeded(row: FirmwareRow, served: number): void {
    if (ACTIVE.includes(row.phase)) this.finish(row, 'failed', `transfer cap: ${served} bytes served without completing (transfer)`);
  }

  private finish(row: FirmwareRow, report: 'booted' | 'failed' | 'rolled_back', reason: string): void {
    const ep = row.deviceId;
    this.d.repo.setFirmware(ep, { phase: report === 'booted' ? 'succeeded' : 'failed', reason }, this.d.now());
    if (report === 'booted') {
      this.stats.succeeded++;
      const rel = this.d.releases.get(row.releaseSha256);
      if (rel) this.d.devices.recordCheckin(ep, { runningSha256: rel.sha256, runningVersion: rel.version, lastResult: 'ok' }, this.d.now());
    } else {
      this.stats.failed++;
      this.d.devices.setLastResult(ep, report, this.d.now());
    }
    this.d.log.info({ endpoint: ep, release: row.releaseSha256.slice(0, 12), outcome: report, reason }, report === 'booted' ? 'LwM2M firmware update succeeded' : 'LwM2M firmware update failed');
    this.d.events.emit('device.report', { deviceId: ep, status: report, reason, releaseSha256: row.releaseSha256 });
    this.d.events.emit('lwm2m.firmware', { endpoint: ep, phase: report === 'booted' ? 'succeeded' : 'failed', releaseSha256: row.releaseSha256, reason });
  }

  private ignored(ep: string, what: string): void {
    this.stats.ignoredStates++;
    this.d.log.warn({ endpoint: ep, what }, 'Object 5 state out of order; ignored');
  }
}
