import type { DaemonContext } from '../context.ts';
import { errorMessage } from '../errors.ts';
import type { EventName, FurrowEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';
import type { Outbox } from '../store/outbox.ts';
import { messageFor, PUBLISHED_EVENTS, Throttle, type PublishedEvent } from './messages.ts';
import type { TelemetryMetrics } from './metrics.ts';
import type { TelemetryState } from './state.ts';
import { Topics } from './topics.ts';

const MAINTENANCE_MS = 60_000;
/** Acknowledged rows stay this long (status shows recent traffic), then go. */
const KEEP_SENT_MS = 10 * 60_000;

/**
 * Listens to every module's events and records them: metrics and in-memory state always, the outbox when
 * MQTT is configured. Started first and stopped last, so events emitted while other services start or
 * flush on stop are not lost. Writing is synchronous (better-sqlite3, WAL): when `emit` returns, the event
 * is committed.
 */
export class TelemetryRecorder implements Service {
  readonly name = 'telemetry-recorder';
  private readonly unsubscribe: Array<() => void> = [];
  private readonly throttle = new Throttle(30_000);
  private timer: NodeJS.Timeout | undefined;
  private sinceMaintenance = 0;
  private readonly log: Logger;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly outbox: Outbox,
    private readonly state: TelemetryState,
    private readonly metrics: TelemetryMetrics,
    /** Called after each outbox write (wakes the publisher). */
    private readonly onEnqueued: () => void,
  ) {
    this.log = ctx.log.child({ module: 'telemetry' });
  }

  async start(): Promise<void> {
    for (const name of PUBLISHED_EVENTS) this.listen(name, (p) => this.record(name, p));
    this.listen('schedule.budget', (p) => {
      this.state.budgets.set(p.bearer, { ...p, at: this.ctx.clock.now() });
      this.metrics.onBudget(p);
    });
    this.listen('lwm2m.registration', (p) => this.metrics.lwm2mRegistrations.inc({ kind: p.kind }));
    this.listen('lwm2m.firmware', (p) => this.metrics.lwm2mFirmware.inc({ phase: p.phase }));
    this.listen('daemon.ready', () => {
      this.state.ready = true;
    });
    this.timer = setInterval(() => this.maintain(), MAINTENANCE_MS);
    this.timer.unref();
    this.maintain();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const off of this.unsubscribe.splice(0)) off();
    this.state.ready = false;
  }

  private listen<K extends EventName>(name: K, fn: (payload: FurrowEvents[K]) => void): void {
    this.unsubscribe.push(this.ctx.events.on(name, 'telemetry', fn));
  }

  private record<K extends PublishedEvent>(type: K, payload: FurrowEvents[K]): void {
    this.metrics.onEvent(type, payload);
    if (type === 'modem.health') this.state.modem = { ...(payload as FurrowEvents['modem.health']), at: this.ctx.clock.now() };
    if (type === 'rollout.progress') {
      const p = payload as FurrowEvents['rollout.progress'];
      this.state.rollouts.set(p.rolloutId, { ...p, at: this.ctx.clock.now() });
    }
    const mqttCfg = this.ctx.config.mqtt;
    if (!mqttCfg) return;
    this.throttle.setInterval(mqttCfg.progressIntervalSeconds * 1000);
    const msg = messageFor(type, payload, {
      topics: new Topics(mqttCfg.topicPrefix, this.ctx.config.gateway.id),
      gatewayId: this.ctx.config.gateway.id,
      wallNow: this.ctx.clock.now(),
      monotonicNow: this.ctx.clock.monotonic(),
      throttle: this.throttle,
    });
    if (!msg) return;
    this.outbox.enqueue(msg, this.ctx.clock.now());
    this.onEnqueued();
    // The bound is checked every few writes as well as every minute, so a burst overshoots it only a little.
    if (++this.sinceMaintenance >= Math.max(10, Math.min(100, Math.floor(mqttCfg.outbox.maxRows / 10)))) this.maintain();
  }

  /** Bounds the outbox (logging what it drops, and telling consumers) and clears old acknowledged rows. */
  maintain(): void {
    this.sinceMaintenance = 0;
    const mqttCfg = this.ctx.config.mqtt;
    if (!mqttCfg) return;
    const now = this.ctx.clock.now();
    try {
      const dropped = this.outbox.prune({ maxRows: mqttCfg.outbox.maxRows, maxAgeMs: mqttCfg.outbox.maxAgeHours * 3_600_000 }, now);
      const n = dropped.progress + dropped.state;
      if (n > 0) {
        this.log.warn(
          { progress: dropped.progress, state: dropped.state, fromSeq: dropped.fromSeq, toSeq: dropped.toSeq, pending: this.outbox.depth() },
          'outbox full or stale: dropped the oldest unsent progress/state events (results are kept)',
        );
        const topics = new Topics(mqttCfg.topicPrefix, this.ctx.config.gateway.id);
        // One waiting notice accumulates all drops of an outage, so notices cannot fill the outbox themselves.
        this.outbox.enqueueOrMerge(
          topics.outboxDropped(),
          'result',
          (prev) => {
            const p = (prev?.data ?? { progress: 0, state: 0, fromSeq: dropped.fromSeq, toSeq: dropped.toSeq }) as typeof dropped;
            return {
              type: 'outbox.dropped',
              ts: new Date(now).toISOString(),
              gateway: this.ctx.config.gateway.id,
              data: {
                progress: p.progress + dropped.progress,
                state: p.state + dropped.state,
                fromSeq: Math.min(p.fromSeq ?? Infinity, dropped.fromSeq ?? Infinity),
                toSeq: Math.max(p.toSeq ?? 0, dropped.toSeq ?? 0),
              },
            };
          },
          now,
        );
        this.onEnqueued();
      }
      this.outbox.purgeSent(now - KEEP_SENT_MS);
    } catch (err) {
      this.log.error({ error: errorMessage(err) }, 'outbox maintenance failed');
    }
  }
}
