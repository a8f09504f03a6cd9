import type { FurrowEvents } from '../events.ts';
import type { NewOutboxMessage } from '../store/outbox.ts';
import type { Topics } from './topics.ts';

/** Events that go out over MQTT, and how each maps to a topic, a retain flag and a drop class. */
export const PUBLISHED_EVENTS = [
  'device.checkin',
  'device.report',
  'transfer.progress',
  'transfer.completed',
  'transfer.failed',
  'rollout.state',
  'rollout.progress',
  'modem.health',
  'release.added',
] as const satisfies ReadonlyArray<keyof FurrowEvents>;

export type PublishedEvent = (typeof PUBLISHED_EVENTS)[number];

/**
 * Throttles high-rate events: transfer progress per device (the first and the last block always pass) and
 * modem health (one stream). Keys use monotonic time so a clock step cannot silence or flood them.
 */
export class Throttle {
  private readonly last = new Map<string, number>();

  constructor(private intervalMs: number) {}

  setInterval(ms: number): void {
    this.intervalMs = ms;
  }

  pass(key: string, now: number, force = false): boolean {
    const prev = this.last.get(key);
    if (!force && prev !== undefined && now - prev < this.intervalMs) return false;
    this.last.set(key, now);
    return true;
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}

export interface MessageContext {
  topics: Topics;
  gatewayId: string;
  wallNow: number;
  monotonicNow: number;
  throttle: Throttle;
}

function envelope<K extends PublishedEvent>(type: K, data: FurrowEvents[K], ctx: MessageContext): Record<string, unknown> {
  return { type, ts: new Date(ctx.wallNow).toISOString(), gateway: ctx.gatewayId, data };
}

/** The outbox message for an event, or null when the throttle swallows it. */
export function messageFor<K extends PublishedEvent>(type: K, data: FurrowEvents[K], ctx: MessageContext): NewOutboxMessage | null {
  const t = ctx.topics;
  const payload = envelope(type, data, ctx);
  switch (type) {
    case 'device.checkin': {
      const d = data as FurrowEvents['device.checkin'];
      return { topic: t.deviceState(d.deviceId), payload, retain: true, kind: 'state' };
    }
    case 'device.report': {
      const d = data as FurrowEvents['device.report'];
      return { topic: t.deviceResult(d.deviceId), payload, retain: true, kind: 'result' };
    }
    case 'transfer.progress': {
      const d = data as FurrowEvents['transfer.progress'];
      const key = `${d.deviceId}\u0000${d.patchId}`;
      const edge = d.offset === 0 || d.offset >= d.size;
      if (!ctx.throttle.pass(key, ctx.monotonicNow, edge)) return null;
      return { topic: t.deviceTransfer(d.deviceId), payload, kind: 'progress' };
    }
    case 'transfer.completed':
    case 'transfer.failed': {
      const d = data as FurrowEvents['transfer.completed'] | FurrowEvents['transfer.failed'];
      ctx.throttle.forget(`${d.deviceId}\u0000${d.patchId}`);
      return { topic: t.deviceTransfer(d.deviceId), payload, kind: 'result' };
    }
    case 'rollout.state': {
      const d = data as FurrowEvents['rollout.state'];
      return { topic: t.rolloutState(d.rolloutId), payload, retain: true, kind: 'result' };
    }
    case 'rollout.progress': {
      const d = data as FurrowEvents['rollout.progress'];
      return { topic: t.rolloutProgress(d.rolloutId), payload, retain: true, kind: 'progress' };
    }
    case 'modem.health': {
      if (!ctx.throttle.pass('\u0000modem', ctx.monotonicNow)) return null;
      return { topic: t.modem(), payload, retain: true, kind: 'progress' };
    }
    case 'release.added':
      return { topic: t.releases(), payload, kind: 'state' };
    default:
      return null;
  }
}
