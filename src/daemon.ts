import { join, resolve } from 'node:path';
import { ClockSyncService, createLoraTransport, LoraMulticastService } from './bearer/lora/index.ts';
import type { DatagramTransport } from './bearer/types.ts';
import { systemClock, type Clock } from './clock.ts';
import { ModemBearer } from './bearer/modem.ts';
import { UdpTransport } from './bearer/udp.ts';
import { CoapService } from './coap/service.ts';
import { DeltaService } from './delta/service.ts';
import { Lwm2mService } from './lwm2m/service.ts';
import { loadConfig, type Config, type LoadedConfig } from './config/index.ts';
import type { DaemonContext } from './context.ts';
import { errorMessage } from './errors.ts';
import { EventBus } from './events.ts';
import { HttpService } from './http/service.ts';
import type { Logger } from './log.ts';
import { chainGates } from './policy.ts';
import { BlobStore } from './release/blob-store.ts';
import { ReleaseWatcher } from './release/watcher.ts';
import { RolloutService } from './rollout/service.ts';
import { applyVerb, type Verb } from './rollout/transitions.ts';
import { meterIfModelled } from './schedule/metered-transport.ts';
import { ScheduleService } from './schedule/service.ts';
import type { Service } from './service.ts';
import { ModemService } from './modem/service.ts';
import { removePidFile, writePidFile } from './lifecycle/daemon-pid.ts';
import { openDatabase } from './store/database.ts';
import { RolloutRepo } from './store/rollouts.ts';
import { createTelemetry } from './telemetry/index.ts';

export interface DaemonOptions {
  log: Logger;
  clock?: Clock;
}

/** Where a config keeps its state: `<data.dir>/furrow.db` and `<data.dir>/blobs/`. */
export function dataPaths(config: Config): { dir: string; db: string; blobs: string } {
  const dir = resolve(config.data.dir);
  return { dir, db: join(dir, 'furrow.db'), blobs: join(dir, 'blobs') };
}

/**
 * Builds every module's service in start order. Each module is handed the same context and owns its
 * listeners and timers; the daemon stops them in reverse order.
 */
function buildServices(ctx: DaemonContext): Service[] {
  const services: Service[] = [];
  // Telemetry's recorder goes first (it hears every event other services emit while starting and stopping);
  // its frontends (HTTP /metrics, MQTT, systemd notify) go last, after the services they report on.
  const telemetry = createTelemetry(ctx);
  services.push(telemetry.recorder);
  // Module services are appended here in dependency order (store-backed services first, then the
  // servers that accept traffic, then telemetry that reports on them).
  // Delta before the release watcher, so it hears release.added and builds patches ahead of check-ins.
  const delta = new DeltaService(ctx);
  services.push(delta);
  services.push(new ReleaseWatcher(ctx));
  // Scheduler (radio gate) and rollout engine (update policy) before CoAP, which asks them.
  const schedule = new ScheduleService(ctx);
  const rollout = new RolloutService(ctx, { slots: schedule.scheduler, patches: delta });
  services.push(schedule, rollout);
  // MQTT commands act like the CLI's `furrow rollout pause|resume|halt` (same transitions, same checks).
  const verb = (v: Verb) => (id: string, reason: string | undefined) => ({ rollout: id, state: applyVerb(new RolloutRepo(ctx.db), id, v, reason ?? null, ctx.clock.now()) });
  telemetry.setCommandHandlers({ pauseRollout: verb('pause'), resumeRollout: (id) => verb('resume')(id, undefined), haltRollout: verb('halt') });
  // Modem (when configured) before CoAP: its bearer is served beside the plain UDP socket.
  const modem = ctx.config.modem ? new ModemService(ctx, ctx.config.modem) : undefined;
  if (modem) services.push(modem);
  const raw: DatagramTransport[] = modem
    ? [new UdpTransport({ host: ctx.config.coap.host, port: ctx.config.coap.port }), new ModemBearer(modem.driver, ctx.config.modem!.bg96.iotopmode)]
    : [new UdpTransport({ host: ctx.config.coap.host, port: ctx.config.coap.port })];
  // LoRa (when configured): CoAP in LoRaWAN frames through ChirpStack, served beside the others.
  const lora = ctx.config.lora ? createLoraTransport(ctx, ctx.config.lora) : undefined;
  if (lora) raw.push(lora);
  // LoRa multicast FUOTA for rollouts that opt in (delivery.lora: multicast) and TS003 clock sync; the
  // multicast holds its session members back from unicast, so it wraps the rollout engine as the policy.
  const clockSync = lora ? new ClockSyncService(ctx, lora) : undefined;
  const multicast = lora ? new LoraMulticastService(ctx, { transport: lora, gate: schedule.scheduler, patches: delta, clock: clockSync!.clock }) : undefined;
  // A bearer with a radio model (schedule.bearers) is metered: every datagram it sends is charged to the
  // duty cycle and SIM budget, not only the patch blocks the gate is asked about. CoAP wraps each bearer
  // as it starts serving it, so one added later (addTransport) is metered too.
  const wrapTransport = (t: DatagramTransport) => meterIfModelled(schedule.scheduler, t);
  lora?.meterRaw(schedule.scheduler);
  // CoAP after the store-backed services; rollout/schedule/delta hand it policy, gate and patches here.
  // Every block asks the rollout engine first (maintenance windows hold in-flight transfers), then the
  // scheduler, which charges what it admits and so must come last.
  const coap = new CoapService(ctx, { policy: multicast ? multicast.policy(rollout.engine) : rollout.engine, gate: chainGates(rollout.engine, schedule.scheduler), radio: schedule.scheduler, patches: delta, wrapTransport, ...(modem || ctx.config.lora ? { transports: raw } : {}) });
  services.push(coap);
  // LwM2M (when configured) serves /rd and /fw on CoAP's bearers and asks the same rollout engine.
  if (ctx.config.lwm2m) services.push(new Lwm2mService(ctx, { coap, policy: rollout.engine }));
  // Stock Wi-Fi devices over HTTPS (when configured): the same engine and gate as CoAP.
  if (ctx.config.http) services.push(new HttpService(ctx, ctx.config.http, { policy: rollout.engine, gate: chainGates(rollout.engine, schedule.scheduler) }));
  // After CoAP, which starts the LoRa bearer they send through.
  if (clockSync && multicast) services.push(clockSync, multicast);
  services.push(...telemetry.frontends);
  return services;
}

/** The composition root: one place that builds, starts, reloads and stops everything. */
export class Daemon {
  private ctx: (DaemonContext & { config: Config }) | undefined;
  private services: Service[] = [];
  private started: Service[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private loaded: LoadedConfig,
    private readonly opts: DaemonOptions,
  ) {}

  get context(): DaemonContext {
    if (!this.ctx) throw new Error('daemon not started');
    return this.ctx;
  }

  async start(): Promise<void> {
    const log = this.opts.log;
    const paths = dataPaths(this.loaded.config);
    const db = openDatabase(paths.db, { log });
    this.ctx = {
      config: this.loaded.config,
      configFile: this.loaded.file,
      log,
      db,
      blobs: new BlobStore(paths.blobs),
      events: new EventBus(log),
      clock: this.opts.clock ?? systemClock,
    };
    this.services = buildServices(this.ctx);
    try {
      for (const s of this.services) {
        await s.start();
        this.started.push(s);
        log.debug({ module: 'daemon', service: s.name }, 'service started');
      }
    } catch (err) {
      log.error({ module: 'daemon', err }, 'start failed; stopping what already started');
      await this.stop();
      throw err;
    }
    // `furrow restore` refuses while this file names a live process. Best effort: a full disk must not stop
    // a daemon that could otherwise serve.
    try {
      writePidFile(paths.dir);
    } catch (err) {
      log.warn({ module: 'daemon', error: errorMessage(err) }, 'cannot write furrow.pid; furrow restore will not see this daemon');
    }
    this.ctx.events.emit('daemon.ready', { services: this.services.map((s) => s.name) });
    log.info({ module: 'daemon', config: this.loaded.file, dataDir: paths.dir, services: this.services.map((s) => s.name) }, 'furrow started');
  }

  /** Stops accepting work, flushes state, closes the DB. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const log = this.opts.log;
    for (const s of [...this.started].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        log.error({ module: 'daemon', service: s.name, err }, 'service failed to stop cleanly');
      }
    }
    this.started = [];
    if (this.ctx?.db.open) {
      this.ctx.db.pragma('wal_checkpoint(TRUNCATE)');
      this.ctx.db.close();
    }
    if (this.ctx) removePidFile(dataPaths(this.ctx.config).dir);
    log.info({ module: 'daemon' }, 'furrow stopped');
  }

  /**
   * Re-reads the config file. A valid config is handed to every service; an invalid one is reported
   * and the running config stays. Settings that need a restart (data dir) are refused with a warning.
   */
  async reload(): Promise<boolean> {
    const log = this.opts.log;
    if (!this.ctx) return false;
    let next: LoadedConfig;
    try {
      next = loadConfig(this.loaded.file);
    } catch (err) {
      log.error({ module: 'config', file: this.loaded.file, error: errorMessage(err) }, 'reload rejected; keeping the running config');
      return false;
    }
    if (resolve(next.config.data.dir) !== resolve(this.ctx.config.data.dir)) {
      log.warn({ module: 'config' }, 'data.dir changed: takes effect only after a restart; keeping the running config');
      return false;
    }
    const previous = this.ctx.config;
    this.ctx.config = next.config;
    try {
      for (const s of this.started) await s.reload?.(next.config);
    } catch (err) {
      this.ctx.config = previous;
      for (const s of this.started) await Promise.resolve(s.reload?.(previous)).catch(() => undefined);
      log.error({ module: 'config', error: errorMessage(err) }, 'reload rejected by a service; keeping the running config');
      return false;
    }
    this.loaded = next;
    this.ctx.events.emit('config.reloaded', { file: next.file });
    log.info({ module: 'config', file: next.file }, 'config reloaded');
    return true;
  }
}
