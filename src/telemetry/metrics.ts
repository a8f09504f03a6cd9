import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { FurrowEvents } from '../events.ts';
import type { Db } from '../store/database.ts';
import { PLAUSIBLE_WALL_MS, type Outbox } from '../store/outbox.ts';
import type { PublishedEvent } from './messages.ts';
import type { TelemetryState } from './state.ts';

/**
 * Prometheus metrics. Two sources, so no module's internals are touched: counters and gauges fed by events
 * as they happen (completed/failed transfers, modem signal, duty cycle, rollout counts), and DB queries at
 * scrape time for what the shared tables already hold (active transfers, bytes served, devices, outbox).
 */
export class TelemetryMetrics {
  readonly registry = new Registry();
  readonly transfersCompleted;
  readonly transfersFailed;
  readonly dutyCycleUsed;
  readonly queueLength;
  readonly budgetBytesUsed;
  readonly modem;
  readonly rolloutDevices;
  readonly rolloutProgress;
  readonly rolloutWave;
  readonly lwm2mRegistrations;
  readonly lwm2mFirmware;

  constructor(db: Db, outbox: Outbox, state: TelemetryState, now: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'furrow_' });
    this.transfersCompleted = new Counter({ name: 'furrow_transfers_completed_total', help: 'Transfers served to the last byte', labelNames: ['bearer'], registers });
    this.transfersFailed = new Counter({ name: 'furrow_transfers_failed_total', help: 'Transfers that failed (by reason)', labelNames: ['reason'], registers });
    this.dutyCycleUsed = new Gauge({ name: 'furrow_duty_cycle_used_ratio', help: 'Share of the current duty-cycle window used, per bearer (0..1)', labelNames: ['bearer'], registers });
    this.queueLength = new Gauge({ name: 'furrow_transfer_queue_length', help: 'Transfers waiting for radio budget, per bearer', labelNames: ['bearer'], registers });
    this.budgetBytesUsed = new Gauge({ name: 'furrow_budget_bytes_used', help: 'Bytes used of the byte budget in its current period, per bearer', labelNames: ['bearer'], registers });
    this.modem = {
      rsrp: new Gauge({ name: 'furrow_modem_rsrp_dbm', help: 'Modem reference signal received power', labelNames: ['model'], registers }),
      rsrq: new Gauge({ name: 'furrow_modem_rsrq_db', help: 'Modem reference signal received quality', labelNames: ['model'], registers }),
      sinr: new Gauge({ name: 'furrow_modem_sinr_db', help: 'Modem signal to interference plus noise ratio', labelNames: ['model'], registers }),
      csq: new Gauge({ name: 'furrow_modem_csq', help: 'Modem AT+CSQ signal quality (0-31, 99 unknown)', labelNames: ['model'], registers }),
      ceLevel: new Gauge({ name: 'furrow_modem_ce_level', help: 'NB-IoT coverage enhancement level', labelNames: ['model'], registers }),
      registered: new Gauge({ name: 'furrow_modem_registered', help: '1 when the modem is registered on the network', labelNames: ['model'], registers }),
    };
    this.rolloutDevices = new Gauge({ name: 'furrow_rollout_devices', help: 'Devices of a rollout by outcome', labelNames: ['rollout', 'outcome'], registers });
    this.rolloutProgress = new Gauge({ name: 'furrow_rollout_progress_ratio', help: 'Updated devices / devices in the rollout', labelNames: ['rollout'], registers });
    this.rolloutWave = new Gauge({ name: 'furrow_rollout_wave', help: 'Current wave of a rollout', labelNames: ['rollout'], registers });

    this.lwm2mRegistrations = new Counter({ name: 'furrow_lwm2m_registrations_total', help: 'LwM2M registration events (registered, updated, deregistered, expired, refused = endpoint not allowed)', labelNames: ['kind'], registers });
    this.lwm2mFirmware = new Counter({ name: 'furrow_lwm2m_firmware_total', help: 'LwM2M Object 5 flow steps (uri-written, downloading, downloaded, updating, succeeded, failed)', labelNames: ['phase'], registers });

    const q = (sql: string) => db.prepare(sql);
    const countLwm2m = q('SELECT count(*) AS n FROM lwm2m_registrations');
    new Gauge({
      name: 'furrow_lwm2m_clients',
      help: 'LwM2M clients registered now (from the store)',
      registers,
      collect() {
        this.set((countLwm2m.get() as { n: number }).n);
      },
    });
    const transfersByState = q('SELECT state, count(*) AS n FROM transfers GROUP BY state');
    const bytesByBearer = q("SELECT coalesce(bearer, 'unknown') AS bearer, sum(bytes_served) AS n FROM transfers GROUP BY 1");
    const rolloutsByState = q('SELECT state, count(*) AS n FROM rollouts GROUP BY state');
    const countDevices = q('SELECT count(*) AS n FROM devices');
    const countReleases = q('SELECT count(*) AS n FROM releases');

    new Gauge({
      name: 'furrow_transfers',
      help: 'Transfers in the store by state (active, paused, completed, failed, aborted)',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const s of ['active', 'paused', 'completed', 'failed', 'aborted']) this.set({ state: s }, 0);
        for (const r of transfersByState.all() as Array<{ state: string; n: number }>) this.set({ state: r.state }, r.n);
      },
    });
    new Counter({
      name: 'furrow_bytes_served_total',
      help: 'Patch bytes sent to devices (retransmissions included), per bearer; from the transfers table',
      labelNames: ['bearer'],
      registers,
      collect() {
        this.reset();
        for (const r of bytesByBearer.all() as Array<{ bearer: string; n: number | null }>) this.inc({ bearer: r.bearer }, r.n ?? 0);
      },
    });
    new Gauge({
      name: 'furrow_rollouts',
      help: 'Rollouts by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const r of rolloutsByState.all() as Array<{ state: string; n: number }>) this.set({ state: r.state }, r.n);
      },
    });
    new Gauge({ name: 'furrow_devices', help: 'Registered devices', registers, collect() { this.set((countDevices.get() as { n: number }).n); } });
    new Gauge({ name: 'furrow_releases', help: 'Stored releases', registers, collect() { this.set((countReleases.get() as { n: number }).n); } });
    new Gauge({ name: 'furrow_outbox_depth', help: 'Events waiting in the outbox for the MQTT broker', registers, collect() { this.set(outbox.depth()); } });
    new Gauge({
      name: 'furrow_outbox_oldest_age_seconds',
      help: 'Age of the oldest unsent event (0 when none): how long the backhaul has been behind',
      registers,
      collect() {
        const o = outbox.oldestPending();
        const t = now();
        // Not a number when either time predates a set clock (no RTC before NTP): unknown, not "56 years".
        if (o && (o.createdAt < PLAUSIBLE_WALL_MS || t < PLAUSIBLE_WALL_MS)) this.set(Number.NaN);
        else this.set(o ? Math.max(0, (t - o.createdAt) / 1000) : 0);
      },
    });
    new Counter({
      name: 'furrow_outbox_dropped_total',
      help: 'Unsent progress/state events dropped to keep the outbox bounded (persisted across restarts)',
      registers,
      collect() {
        this.reset();
        this.inc(outbox.droppedTotal());
      },
    });
    new Gauge({ name: 'furrow_mqtt_connected', help: '1 while connected to the MQTT broker', registers, collect() { this.set(state.mqtt.connected ? 1 : 0); } });
    new Counter({
      name: 'furrow_mqtt_published_total',
      help: 'Outbox events acknowledged by the broker since start',
      registers,
      collect() {
        this.reset();
        this.inc(state.mqtt.published);
      },
    });
    new Counter({
      name: 'furrow_mqtt_rejected_total',
      help: 'Events the broker refused (MQTT 5 PUBACK reason code, e.g. its ACL) since start; they are not re-sent',
      registers,
      collect() {
        this.reset();
        this.inc(state.mqtt.rejected);
      },
    });
    new Counter({
      name: 'furrow_mqtt_commands_total',
      help: 'Command messages received since start',
      registers,
      collect() {
        this.reset();
        this.inc(state.mqtt.commands);
      },
    });
  }

  onEvent<K extends PublishedEvent>(type: K, payload: FurrowEvents[K]): void {
    switch (type) {
      case 'transfer.completed':
        this.transfersCompleted.inc({ bearer: (payload as FurrowEvents['transfer.completed']).bearer });
        break;
      case 'transfer.failed':
        this.transfersFailed.inc({ reason: reasonLabel((payload as FurrowEvents['transfer.failed']).reason) });
        break;
      case 'modem.health': {
        const p = payload as FurrowEvents['modem.health'];
        const l = { model: p.model };
        if (p.rsrp !== undefined) this.modem.rsrp.set(l, p.rsrp);
        if (p.rsrq !== undefined) this.modem.rsrq.set(l, p.rsrq);
        if (p.sinr !== undefined) this.modem.sinr.set(l, p.sinr);
        if (p.csq !== undefined) this.modem.csq.set(l, p.csq);
        if (p.ceLevel !== undefined) this.modem.ceLevel.set(l, p.ceLevel);
        this.modem.registered.set(l, p.registered ? 1 : 0);
        break;
      }
      case 'rollout.progress': {
        const p = payload as FurrowEvents['rollout.progress'];
        const r = p.rolloutId;
        this.rolloutDevices.set({ rollout: r, outcome: 'total' }, p.total);
        this.rolloutDevices.set({ rollout: r, outcome: 'updated' }, p.updated);
        this.rolloutDevices.set({ rollout: r, outcome: 'failed' }, p.failed);
        this.rolloutDevices.set({ rollout: r, outcome: 'in_progress' }, p.inProgress);
        this.rolloutProgress.set({ rollout: r }, p.total > 0 ? p.updated / p.total : 0);
        this.rolloutWave.set({ rollout: r }, p.wave);
        break;
      }
      case 'rollout.state': {
        const p = payload as FurrowEvents['rollout.state'];
        if (p.wave !== undefined) this.rolloutWave.set({ rollout: p.rolloutId }, p.wave);
        break;
      }
      default:
        break;
    }
  }

  onBudget(p: FurrowEvents['schedule.budget']): void {
    this.dutyCycleUsed.set({ bearer: p.bearer }, p.dutyCycleUsed);
    this.queueLength.set({ bearer: p.bearer }, p.queueLength);
    if (p.bytesUsed !== undefined) this.budgetBytesUsed.set({ bearer: p.bearer }, p.bytesUsed);
  }
}

/** Free-text reasons would explode label cardinality: keep the first word-ish token only. */
export function reasonLabel(reason: string): string {
  const m = /^[A-Za-z0-9_.-]{1,40}/.exec(reason.trim());
  return m ? m[0] : 'other';
}
