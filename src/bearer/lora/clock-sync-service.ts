import type { DaemonContext } from '../../context.ts';
import type { Logger } from '../../log.ts';
import type { Service } from '../../service.ts';
import type { Db } from '../../store/database.ts';
import type { Uplink } from './chirpstack/messages.ts';
import * as ts003 from './clock-sync.ts';
import type { LoraConfig } from './config.ts';
import type { LoraTransport } from './transport.ts';

/** What a multicast setup needs from clock sync: is a device's clock known, and a way to make it so. */
export interface ClockPort {
  isSynced(devEui: string): boolean;
  requestResync(devEui: string): Promise<string>;
  onSync(listener: (devEui: string) => void): () => void;
}

export interface ClockSyncOptions {
  transport: LoraTransport;
  db: Db;
  log: Logger;
  config: () => LoraConfig['clockSync'];
  now: () => number;
}

interface ClockRow {
  synced_at: number;
  correction_s: number;
  token: number;
}

/**
 * TS003 application server (FPort 202 by default): answers each AppTimeReq with the difference between
 * the network's GPS time when the frame arrived and the device's DeviceTime (§3.2), always when the
 * device sets AnsRequired and otherwise only when its clock is off by more than the tolerance. The
 * reception time comes from the ChirpStack uplink event (a GPS gateway's timeSinceGpsEpoch when there
 * is one, else its UTC time plus the GPS-UTC leap seconds). Clock state per device is kept in SQLite so
 * a restarted daemon still knows which clocks it set.
 */
export class ClockSync implements ClockPort {
  private readonly log: Logger;
  private readonly listeners = new Set<(devEui: string) => void>();
  private port: number | undefined;
  stats = { requests: 0, answers: 0, inTolerance: 0, bad: 0 };

  constructor(private readonly o: ClockSyncOptions) {
    this.log = o.log.child({ module: 'lora.clock' });
  }

  start(): void {
    this.port = this.o.config().fPort;
    this.o.transport.onPort(this.port, (u) => void this.onUplink(u).catch((err: unknown) => this.log.error({ err, devEui: u.devEui }, 'clock sync answer failed')));
  }

  stop(): void {
    if (this.port !== undefined) this.o.transport.offPort(this.port);
    this.port = undefined;
    this.listeners.clear();
  }

  isSynced(devEui: string): boolean {
    const row = this.row(devEui);
    return row !== undefined && this.o.now() - row.synced_at <= this.o.config().maxAgeHours * 3_600_000;
  }

  /** Last correction and when, for status output. */
  row(devEui: string): ClockRow | undefined {
    return this.o.db.prepare('SELECT synced_at, correction_s, token FROM lora_clock_sync WHERE dev_eui = ?').get(devEui.toLowerCase()) as ClockRow | undefined;
  }

  /** TS003 §3.4: the device answers with up to NbTransmissions AppTimeReq (AnsRequired = 0). */
  requestResync(devEui: string): Promise<string> {
    const c = this.o.config();
    return this.o.transport.sendRaw(devEui, c.fPort, ts003.encodeForceDeviceResyncReq(c.resyncTransmissions));
  }

  onSync(listener: (devEui: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async onUplink(u: Uplink): Promise<void> {
    if (u.data.length === 0) return;
    const cid = u.data[0];
    if (cid === ts003.Ts003Cid.AppTime) return this.onAppTimeReq(u);
    if (cid === ts003.Ts003Cid.PackageVersion) {
      const v = ts003.decodePackageVersionAns(u.data);
      this.log.info({ devEui: u.devEui, ...v }, 'clock sync package version');
    } else if (cid === ts003.Ts003Cid.DeviceAppTimePeriodicity) {
      const a = ts003.decodeDeviceAppTimePeriodicityAns(u.data);
      this.log.info({ devEui: u.devEui, ...a }, 'clock sync periodicity answer');
    } else {
      this.stats.bad++;
      this.log.warn({ devEui: u.devEui, cid }, 'unknown TS003 command from device');
    }
  }

  private async onAppTimeReq(u: Uplink): Promise<void> {
    let req: ts003.AppTimeReq;
    try {
      req = ts003.decodeAppTimeReq(u.data);
    } catch (err) {
      this.stats.bad++;
      this.log.warn({ devEui: u.devEui, problem: (err as Error).message }, 'bad AppTimeReq');
      return;
    }
    this.stats.requests++;
    const c = this.o.config();
    // The network's GPS time when the frame arrived, in whole seconds like DeviceTime.
    const rx = u.rxTime;
    const gps = rx && 'gpsSeconds' in rx ? Math.floor(rx.gpsSeconds) : ts003.utcMsToGpsSeconds(rx?.utcMs ?? this.o.now());
    const correction = ts003.timeCorrection(gps, req.deviceTime);
    const answer = req.ansRequired || Math.abs(correction) > c.toleranceSeconds;
    this.o.db
      .prepare(
        `INSERT INTO lora_clock_sync (dev_eui, synced_at, correction_s, token, requests) VALUES (?, ?, ?, ?, 1)
         ON CONFLICT(dev_eui) DO UPDATE SET synced_at = excluded.synced_at, correction_s = excluded.correction_s, token = excluded.token, requests = requests + 1`,
      )
      .run(u.devEui, this.o.now(), correction, req.tokenReq);
    if (answer) {
      this.stats.answers++;
      await this.o.transport.sendRaw(u.devEui, c.fPort, ts003.encodeAppTimeAns({ timeCorrection: correction, tokenAns: req.tokenReq }));
    } else this.stats.inTolerance++;
    this.log.info({ devEui: u.devEui, correction, token: req.tokenReq, answered: answer, source: rx ? Object.keys(rx)[0] : 'gateway clock' }, 'device clock sync');
    for (const l of this.listeners) l(u.devEui);
  }
}

/** The clock sync as a daemon service: starts with the LoRa bearer whenever `lora:` is configured. */
export class ClockSyncService implements Service {
  readonly name = 'lora-clock';
  readonly clock: ClockSync;

  constructor(ctx: DaemonContext, transport: LoraTransport) {
    this.clock = new ClockSync({ transport, db: ctx.db, log: ctx.log, config: () => ctx.config.lora!.clockSync, now: () => ctx.clock.now() });
  }

  async start(): Promise<void> {
    this.clock.start();
  }

  async stop(): Promise<void> {
    this.clock.stop();
  }
}
