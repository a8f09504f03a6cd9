/**
 * The HTTPS service for stock ESP32 Wi-Fi devices (HTTP.md): Arduino HTTPUpdate on /update,
 * esp_https_ota on /ota/<token>, status reports on /status. Policy and gate come from the rollout
 * engine and scheduler (daemon.ts), so windows, waves, budgets and caps apply as on CoAP.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { TransmitGate, UpdatePolicy } from '../policy.ts';
import type { Service } from '../service.ts';
import { DeviceRepo } from '../store/devices.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { RolloutRepo } from '../store/rollouts.ts';
import { TransferStore } from '../store/transfers.ts';
import { ArduinoUpdateRoute } from './arduino-update.ts';
import { loadOperatorCert, loadOrCreateGatewayCert, type GatewayCert } from './cert.ts';
import type { HttpConfig } from './config.ts';
import { EspDeltaPatches } from './delta-patches.ts';
import { UpdateDesk } from './desk.ts';
import { EspDeltaOtaRoute } from './esp-delta-ota.ts';
import { HttpsOtaRoute } from './https-ota.ts';
import { HttpIdentityRepo } from './identity.ts';
import { ImageIndex } from './images.ts';
import { ImageSender } from './send-image.ts';
import { HttpFrontend } from './server.ts';
import { StatusRoute } from './status-report.ts';

export interface HttpServiceOptions {
  policy: UpdatePolicy;
  gate: TransmitGate;
}

/** The certificate in force: the operator's (http.tls.cert/key, relative to the config file) or the generated one. */
export function loadHttpCert(cfg: HttpConfig, dataDir: string, configFile: string): GatewayCert {
  const rel = (p: string) => (isAbsolute(p) ? p : resolve(dirname(configFile), p));
  return cfg.tls.cert && cfg.tls.key ? loadOperatorCert(rel(cfg.tls.cert), rel(cfg.tls.key)) : loadOrCreateGatewayCert(resolve(dataDir), cfg.tls.names);
}

export class HttpService implements Service {
  readonly name = 'http';
  private readonly log: Logger;
  private frontend: HttpFrontend | undefined;
  private transfers: TransferStore | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private listening: Array<{ port: number; tls: boolean }> = [];
  private cert: GatewayCert | undefined;
  private deltaPatches: EspDeltaPatches | undefined;

  constructor(
    private readonly ctx: DaemonContext,
    private cfg: HttpConfig,
    private readonly opts: HttpServiceOptions,
  ) {
    this.log = ctx.log.child({ module: 'http' });
  }

  /** Bound ports (tests read the ephemeral port here). */
  get ports(): ReadonlyArray<{ port: number; tls: boolean }> {
    return this.listening;
  }

  get certificate(): GatewayCert | undefined {
    return this.cert;
  }

  async start(): Promise<void> {
    const cert = loadHttpCert(this.cfg, this.ctx.config.data.dir, this.ctx.configFile);
    this.cert = cert;
    if (cert.created) this.log.info({ path: cert.certPath, fingerprint: cert.fingerprint, names: cert.names, pem: cert.certPem }, 'generated the gateway TLS certificate; give devices its PEM (`furrow http cert`)');
    if (cert.looseMode) this.log.warn({ mode: cert.looseMode }, 'gateway TLS key is readable by others; chmod 600 it');
    const db = this.ctx.db;
    const transfers = new TransferStore(db, this.ctx.clock, this.ctx.config.coap.transfers);
    const devices = new DeviceRepo(db);
    const releases = new ReleaseRepo(db);
    const identity = new HttpIdentityRepo(db);
    const images = new ImageIndex(releases, this.ctx.blobs);
    const desk = new UpdateDesk({ log: this.log, clock: this.ctx.clock, events: this.ctx.events, devices, releases, rollouts: new RolloutRepo(db), identity, images, policy: this.opts.policy, transfers });
    const sender = new ImageSender({ log: this.log, clock: this.ctx.clock, events: this.ctx.events, blobs: this.ctx.blobs, transfers, gate: this.opts.gate, progressIntervalMs: this.ctx.config.coap.progressIntervalMs });
    const frontend = new HttpFrontend(this.log, this.cfg);
    frontend.addRoute(new ArduinoUpdateRoute({ log: this.log, devices, identity, desk, images, sender }));
    frontend.addRoute(new HttpsOtaRoute({ log: this.log, devices, identity, desk, sender }));
    const deltaPatches = new EspDeltaPatches(db, this.ctx.blobs, this.ctx.clock, this.log);
    this.deltaPatches = deltaPatches;
    frontend.addRoute(new EspDeltaOtaRoute({ log: this.log, devices, identity, desk, sender, patches: deltaPatches, buildRetrySeconds: () => this.ctx.config.coap.buildRetrySeconds }));
    frontend.addRoute(new StatusRoute({ log: this.log, devices, identity, desk, images, maxBodyBytes: () => this.cfg.maxBodyBytes }));
    transfers.start();
    this.transfers = transfers;
    this.frontend = frontend;
    this.sweep = setInterval(() => sender.sweep(10 * 60_000), 60_000);
    this.sweep.unref();
    await frontend.listenTls({ cert: cert.certPem, key: cert.keyPem });
    if (this.cfg.plainPort !== null) await frontend.listenPlain(this.cfg.plainPort);
    this.listening = frontend.ports();
  }

  /** Limits and timeouts apply at once; addresses, ports and certificates after a restart. */
  reload(config: Config): void {
    const next = config.http;
    if (!this.frontend || !next) return;
    if (next.host !== this.cfg.host || next.port !== this.cfg.port || next.plainPort !== this.cfg.plainPort || JSON.stringify(next.tls) !== JSON.stringify(this.cfg.tls)) {
      this.log.warn('http listeners or certificate changed: takes effect after a restart');
    }
    this.cfg = { ...next, host: this.cfg.host, port: this.cfg.port, plainPort: this.cfg.plainPort, tls: this.cfg.tls };
    this.frontend.setConfig(this.cfg);
  }

  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    await this.frontend?.close();
    this.listening = [];
    // A patch build under way finishes before the database closes (its row would be lost otherwise).
    await this.deltaPatches?.idle();
    // Flush last: bytes served until the sockets closed are kept.
    this.transfers?.stop();
  }
}
