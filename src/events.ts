import { EventEmitter } from 'node:events';
import type { Logger } from './log.ts';

/**
 * Events that cross module boundaries. Modules add their own entries here; payloads are plain data
 * (JSON-serialisable) so telemetry can forward them without knowing the producer.
 */
export interface FurrowEvents {
  'release.added': { product: string; version: string; sha256: string; size: number };
  'device.checkin': { deviceId: string; product: string; runningSha256: string; rsrp?: number; snr?: number; battery?: number };
  'device.report': { deviceId: string; status: string; reason?: string; releaseSha256?: string };
  'transfer.progress': { deviceId: string; patchId: string; offset: number; size: number; bearer: string };
  'transfer.completed': { deviceId: string; patchId: string; size: number; bearer: string };
  'transfer.failed': { deviceId: string; patchId: string; reason: string };
  /** A patch block was refused (radio budget, maintenance window); `answered: false` = dropped without a 5.03 (duty cycle). */
  'transfer.refused': { deviceId: string; patchId: string; bearer: string; retryAfterSeconds: number; reason: string; answered: boolean };
  /** A patch for a base → release move is stored (delta module); `kind: 'full'` when the delta did not save enough. */
  'patch.ready': { fromSha256: string; toSha256: string; patchId: string; kind: 'delta' | 'full'; size: number };
  'rollout.state': { rolloutId: string; state: string; reason?: string; wave?: number };
  'modem.health': { model: string; rsrp?: number; rsrq?: number; sinr?: number; csq?: number; registered: boolean; cellId?: string; ceLevel?: number };
  'config.reloaded': { file: string };
  /** Scheduler, per bearer: share of the current duty-cycle window used (0..1) and transfers waiting. */
  'schedule.budget': { bearer: string; dutyCycleUsed: number; bytesUsed?: number; bytesBudget?: number; queueLength: number };
  /** Rollout engine: device counts of a rollout (all waves so far), emitted when they change. */
  'rollout.progress': { rolloutId: string; wave: number; total: number; updated: number; failed: number; inProgress: number };
  /** LwM2M server: a client registered, updated its registration, de-registered or expired. */
  'lwm2m.registration': { endpoint: string; kind: 'registered' | 'updated' | 'deregistered' | 'expired' | 'refused'; reason?: string };
  /** LwM2M Object 5 flow of one client moved on (src/lwm2m/firmware-flow.ts). */
  'lwm2m.firmware': { endpoint: string; phase: string; releaseSha256: string; reason?: string };
  /** Daemon: every service started (readiness). */
  'daemon.ready': { services: string[] };
}

export type EventName = keyof FurrowEvents;
export type Listener<K extends EventName> = (payload: FurrowEvents[K]) => void | Promise<void>;

/**
 * Typed event bus. Every listener is guarded: a throwing or rejecting listener is logged as
 * `module/event` and the daemon lives on (one bad subscriber must not stop a transfer).
 */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly log: Logger) {
    this.emitter.setMaxListeners(100);
  }

  /** Subscribe; returns the function that unsubscribes (call it in the owner's stop()). */
  on<K extends EventName>(event: K, owner: string, listener: Listener<K>): () => void {
    const guarded = (payload: FurrowEvents[K]) => {
      try {
        const r = listener(payload);
        if (r && typeof (r as Promise<void>).catch === 'function') {
          (r as Promise<void>).catch((err: unknown) => this.log.error({ err, listener: `${owner}/${event}` }, 'event listener failed'));
        }
      } catch (err) {
        this.log.error({ err, listener: `${owner}/${event}` }, 'event listener failed');
      }
    };
    this.emitter.on(event, guarded);
    return () => this.emitter.off(event, guarded);
  }

  emit<K extends EventName>(event: K, payload: FurrowEvents[K]): void {
    this.emitter.emit(event, payload);
  }

  listenerCount(event: EventName): number {
    return this.emitter.listenerCount(event);
  }
}
