/**
 * The HTTP counterpart of the CoAP check-in (src/coap/resources/checkin.ts): what an enrolled stock
 * device runs, what it learned since its last request (a new image = booted), and what the rollout
 * engine decides for it now. The answer is the same whatever the protocol; each route words it.
 */
import type { Clock } from '../clock.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import type { UpdatePolicy } from '../policy.ts';
import type { DeviceRepo, DeviceRow } from '../store/devices.ts';
import type { ReleaseRepo, ReleaseRow } from '../store/releases.ts';
import { FINISHED_MEMBER_STATES, type RolloutRepo } from '../store/rollouts.ts';
import type { TransferStore } from '../store/transfers.ts';
import type { HttpIdentityRepo } from './identity.ts';
import type { ImageIndex, RunningClaim } from './images.ts';

/** Transfers over HTTP are recorded, scheduled and metered under this bearer name (schedule.bearers.http models it). */
export const HTTP_BEARER = 'http';

export type DeskAnswer =
  | { kind: 'current'; running: ReleaseRow | undefined }
  | { kind: 'later'; retryAfterSeconds: number; reason: string }
  | { kind: 'update'; release: ReleaseRow; running: ReleaseRow | undefined; rolloutId?: string | undefined };

export interface DeskDeps {
  log: Logger;
  clock: Clock;
  events: EventBus;
  devices: DeviceRepo;
  releases: ReleaseRepo;
  rollouts: RolloutRepo;
  identity: HttpIdentityRepo;
  images: ImageIndex;
  policy: UpdatePolicy;
  transfers: TransferStore;
}

export class UpdateDesk {
  constructor(private readonly d: DeskDeps) {}

  /**
   * `continuation`: a Range request past byte 0 of a download under way. It is asked again (a window
   * may have opened, the rollout may be paused) but is not a new check-in: nothing is recorded.
   */
  checkin(device: DeviceRow, claim: RunningClaim, opts: { continuation?: boolean } = {}): DeskAnswer {
    const running = this.d.images.find(device.product, claim);
    const now = this.d.clock.now();
    if (!opts.continuation) {
      if (running) {
        this.d.devices.recordCheckin(device.id, { runningSha256: running.sha256, runningVersion: claim.version ?? running.version, bearer: HTTP_BEARER }, now);
        this.d.events.emit('device.checkin', { deviceId: device.id, product: device.product, runningSha256: running.sha256 });
      } else {
        this.d.identity.touch(device.id, now);
      }
      if (running) this.learnResult(device, running);
    }
    const decision = this.d.policy.decide({ deviceId: device.id, product: device.product, runningSha256: running?.sha256 ?? '', bearer: HTTP_BEARER, fullImage: true });
    if (decision.kind === 'none') return { kind: 'current', running };
    if (decision.kind === 'later') return decision;
    if (decision.releaseSha256 === running?.sha256) return { kind: 'current', running };
    const release = this.d.releases.get(decision.releaseSha256);
    if (!release) {
      this.d.log.error({ deviceId: device.id, release: decision.releaseSha256.slice(0, 12) }, 'decided release is not in the store; device told to come back later');
      return { kind: 'later', retryAfterSeconds: 300, reason: 'release missing on the gateway' };
    }
    return { kind: 'update', release, running, rolloutId: decision.rolloutId };
  }

  /**
   * A stock device reports nothing by itself: it downloads, flashes, reboots and asks again. Running
   * the release of a rollout it was offered is its "booted" report (the rollout engine's report path).
   */
  private learnResult(device: DeviceRow, running: ReleaseRow): void {
    for (const m of this.d.rollouts.memberships(device.id)) {
      if (FINISHED_MEMBER_STATES.includes(m.state) || m.state === 'pending') continue;
      const target = this.d.rollouts.get(m.rolloutId)?.releaseSha256;
      if (target !== running.sha256) {
        const t = target ? this.d.transfers.get(device.id, target) : undefined;
        if (t?.state === 'completed') this.d.log.warn({ deviceId: device.id, rollout: m.rolloutId, running: running.version }, 'device asks again on its previous image after a complete download; offering it again');
        continue;
      }
      this.d.transfers.reportOffset(device.id, running.sha256, running.size, 'completed');
      this.d.devices.setLastResult(device.id, 'ok', this.d.clock.now());
      this.d.log.info({ deviceId: device.id, rollout: m.rolloutId, version: running.version }, 'device runs the release: booted');
      this.d.events.emit('device.report', { deviceId: device.id, status: 'booted', reason: 'running the release at its next request', releaseSha256: running.sha256 });
      return;
    }
  }

  /** POST status (HTTP.md): the device's own word, the same report path as CoAP POST /r. */
  report(device: DeviceRow, status: 'downloading' | 'applied' | 'booted' | 'failed' | 'rolled_back', reason: string | undefined, running: ReleaseRow | undefined): void {
    const now = this.d.clock.now();
    if (status === 'booted') this.d.devices.setLastResult(device.id, 'ok', now);
    else if (status === 'failed' || status === 'rolled_back') this.d.devices.setLastResult(device.id, status, now);
    this.d.log.info({ deviceId: device.id, status, reason }, 'device report');
    const payload: { deviceId: string; status: string; reason?: string; releaseSha256?: string } = { deviceId: device.id, status };
    if (reason !== undefined) payload.reason = reason;
    if (running) payload.releaseSha256 = running.sha256;
    this.d.events.emit('device.report', payload);
  }
}
