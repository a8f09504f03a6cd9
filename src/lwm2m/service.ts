/**
 * The LwM2M server in the daemon (src/lwm2m/LWM2M.md): adds /rd and /fw to the CoAP message layer,
 * keeps registrations in SQLite (restored on start, expired by lifetime), identifies each client by
 * reading /3/0 at registration (so `devices list` shows it with protocol lwm2m and its firmware version)
 * and runs the Object 5 flow for the rollout engine.
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { DatagramTransport } from '../bearer/types.ts';
import { UdpTransport } from '../bearer/udp.ts';
import type { CoapService } from '../coap/service.ts';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { UpdatePolicy } from '../policy.ts';
import type { Service } from '../service.ts';
import { DeviceRepo } from '../store/devices.ts';
import { Lwm2mRepo, type Registration } from '../store/lwm2m.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { PatchCache } from '../coap/patch-cache.ts';
import type { Lwm2mConfig } from './config.ts';
import { DeviceManager } from './device-manager.ts';
import { FirmwareFlow } from './firmware-flow.ts';
import { buildPackage, packageEtag } from './package.ts';
import { PackageResource } from './package-resource.ts';
import { RegistrationResource, type RegistrationEvent } from './registration.ts';

const EXPIRY_SWEEP_MS = 1000;

/**
 * The running image of a client whose /3/0/3 names no stored release of its product: a stable stand-in
 * (never equal to a release's SHA-256), so rollouts treat it as "not on the release" and offer it.
 */
export function versionFingerprint(product: string, version: string): string {
  return createHash('sha256').update(`lwm2m-version\u0000${product}\u0000${version}`).digest('hex');
}

export class Lwm2mService implements Service {
  readonly name = 'lwm2m';
  private readonly log: Logger;
  private repo: Lwm2mRepo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private offerTimer: NodeJS.Timeout | undefined;
  /** Endpoints with an identify/offer under way: a sweep or Update meanwhile does not start a second one. */
  private readonly busy = new Set<string>();
  /** A Register/Update that came while busy: handled again when the running pass ends (a re-registration after an update must be seen). */
  private readonly again = new Map<string, { reg: Registration; fresh: boolean }>();
  private packages = new Map<string, { id: string; bytes: Buffer; etag: Buffer }>();
  dm: DeviceManager | undefined;
  flow: FirmwareFlow | undefined;
  registration: RegistrationResource | undefined;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly deps: { coap: CoapService; policy: UpdatePolicy },
  ) {
    this.log = ctx.log.child({ module: 'lwm2m' });
  }

  private get cfg(): Lwm2mConfig {
    if (!this.ctx.config.lwm2m) throw new Error('lwm2m section missing');
    return this.ctx.config.lwm2m;
  }

  async start(): Promise<void> {
    const server = this.deps.coap.coapServer;
    if (!server) throw new Error('lwm2m starts after the coap service');
    const repo = new Lwm2mRepo(this.ctx.db);
    this.repo = repo;
    const devices = new DeviceRepo(this.ctx.db);
    const releases = new ReleaseRepo(this.ctx.db);
    const blobs = new PatchCache(this.ctx.blobs, 32 * 1024 * 1024);
    server.exchange.setTxParams({ ackTimeoutMs: 2000, ackRandomFactor: 1.5, maxRetransmit: 4, separateTimeoutMs: this.cfg.requestTimeoutSeconds * 1000 });
    const dm = new DeviceManager({ exchange: server.exchange, transport: (b) => this.transport(b), monotonic: () => this.ctx.clock.monotonic(), log: this.log });
    this.dm = dm;
    const pkgOf = (sha: string) => {
      const key = `${sha}:${this.cfg.package}`;
      let p = this.packages.get(key);
      if (!p) {
        const bytes = buildPackage(this.cfg.package, blobs.get(sha));
        p = { id: createHash('sha256').update(bytes).digest('hex'), bytes, etag: packageEtag(bytes) };
        if (this.packages.size >= 4) this.packages.delete(this.packages.keys().next().value!);
        this.packages.set(key, p);
      }
      return p;
    };
    const flow = new FirmwareFlow({
      repo,
      releases,
      devices,
      dm,
      policy: this.deps.policy,
      events: this.ctx.events,
      log: this.log,
      now: () => this.ctx.clock.now(),
      packageBase: () => this.packageBase(),
      packageSize: (sha) => {
        const p = pkgOf(sha);
        return { id: p.id, size: p.bytes.length };
      },
      beginTransfer: (dev, id, size, bearer) => this.deps.coap.transferStore?.begin(dev, id, size, bearer),
    });
    this.flow = flow;
    const reg = new RegistrationResource({ repo, config: () => this.cfg, log: this.log, now: () => this.ctx.clock.now(), onEvent: (e) => this.onRegistration(e, devices, releases), onRefused: (ep) => this.ctx.events.emit('lwm2m.registration', { endpoint: ep, kind: 'refused' }) });
    this.registration = reg;
    server.addResource(reg);
    server.addResource(
      new PackageResource({
        repo,
        packages: { package: pkgOf },
        transfers: () => this.deps.coap.transferStore,
        events: this.ctx.events,
        log: this.log,
        maxSzx: () => Math.log2(this.ctx.config.coap.maxBlockSize) - 4,
        capFactor: () => this.cfg.transferCapFactor,
        onCapExceeded: (row, served) => flow.capExceeded(row, served),
        monotonic: () => this.ctx.clock.monotonic(),
      }),
    );
    const restored = repo.list();
    for (const r of restored) dm.restore(r);
    if (restored.length > 0) this.log.info({ registrations: restored.length }, 'LwM2M registrations restored from the store');
    this.timer = setInterval(() => this.expire(), EXPIRY_SWEEP_MS);
    this.timer.unref();
    // A rollout applied while clients sit registered reaches them without waiting for their next Update.
    this.offerTimer = setInterval(() => this.offerSweep(devices, releases), this.cfg.offerIntervalSeconds * 1000);
    this.offerTimer.unref();
    this.log.info({ endpoints: Object.keys(this.cfg.endpoints).length, package: this.cfg.package, packageUri: this.packageBase() }, 'LwM2M server ready on /rd');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.offerTimer) clearInterval(this.offerTimer);
  }

  private offerSweep(devices: DeviceRepo, releases: ReleaseRepo): void {
    if (!this.repo) return;
    try {
      for (const reg of this.repo.list()) {
        if (reg.queueMode) continue;
        // Also for clients mid-update: after a gateway restart their Object 5 observations are re-made here.
        const fw = this.repo.firmware(reg.endpoint);
        const active = fw !== undefined && ['uri-written', 'downloading', 'downloaded', 'updating'].includes(fw.phase);
        if (active && this.dm?.isObserving(reg.endpoint, '/5/0/3')) continue;
        void this.identify(reg, false, devices, releases);
      }
    } catch (err) {
      this.log.error({ err }, 'LwM2M offer sweep failed');
    }
  }

  /** Registrations as stored (the CLI and tests read them). */
  registrations(): Registration[] {
    return this.repo?.list() ?? [];
  }

  private transport(bearer: string): DatagramTransport | undefined {
    return this.deps.coap.bearers.find((t) => t.name === bearer);
  }

  private packageBase(): string {
    if (this.cfg.packageUri) return this.cfg.packageUri;
    const udp = this.deps.coap.bearers.find((t): t is UdpTransport => t instanceof UdpTransport);
    const host = this.ctx.config.coap.host === '::' || this.ctx.config.coap.host === '0.0.0.0' ? '127.0.0.1' : this.ctx.config.coap.host;
    return `coap://${isIPv6(host) ? `[${host}]` : host}:${udp?.port ?? this.ctx.config.coap.port}`;
  }

  private expire(): void {
    if (!this.repo || !this.dm) return;
    try {
      for (const ep of this.repo.expire(this.ctx.clock.now())) {
        this.dm.forget(ep);
        this.log.info({ endpoint: ep }, 'LwM2M registration expired (lifetime passed without an Update)');
        this.ctx.events.emit('lwm2m.registration', { endpoint: ep, kind: 'expired' });
      }
    } catch (err) {
      this.log.error({ err }, 'registration expiry sweep failed');
    }
  }

  private onRegistration(e: RegistrationEvent, devices: DeviceRepo, releases: ReleaseRepo): void {
    const dm = this.dm!;
    const ep = e.reg.endpoint;
    this.ctx.events.emit('lwm2m.registration', { endpoint: ep, kind: e.kind });
    if (e.kind === 'deregistered') {
      dm.forget(ep);
      return;
    }
    const allowed = this.cfg.endpoints[ep]!;
    if (!devices.get(ep)) devices.add({ id: ep, product: allowed.product, labels: allowed.labels, protocol: 'lwm2m' }, this.ctx.clock.now());
    if (e.kind === 'registered') dm.resetObservations(ep);
    dm.heard(e.reg);
    // After the reply: reads and writes to the client go out once it has its 2.01 / 2.04.
    setImmediate(() => void this.identify(e.reg, e.kind === 'registered', devices, releases));
  }

  /** Reads /3/0 (Manufacturer, Model, Firmware Version) and hands the client to the firmware flow. */
  private async identify(reg: Registration, fresh: boolean, devices: DeviceRepo, releases: ReleaseRepo): Promise<void> {
    const ep = reg.endpoint;
    if (this.busy.has(ep)) {
      const prev = this.again.get(ep);
      this.again.set(ep, { reg, fresh: fresh || (prev?.fresh ?? false) });
      return;
    }
    this.busy.add(ep);
    try {
      const dev = devices.get(ep);
      if (!dev) return;
      let sha = dev.runningSha256;
      const fw = this.repo!.firmware(ep);
      if (fresh || !sha || fw?.phase === 'updating') {
        const vals = await this.dm!.read(ep, '/3/0');
        const get = (p: string) => vals.find((v) => v.path === p)?.value;
        const version = get('/3/0/3');
        if (typeof version !== 'string' || version.length === 0 || version.length > 64) throw new Error('/3/0/3 (Firmware Version) is missing or not a string of 1..64 characters');
        sha = releases.byVersion(dev.product, version)?.sha256 ?? versionFingerprint(dev.product, version);
        devices.recordCheckin(ep, { runningSha256: sha, runningVersion: version, bearer: reg.bearer }, this.ctx.clock.now());
        const manufacturer = get('/3/0/0');
        const model = get('/3/0/1');
        this.log.info({ endpoint: ep, manufacturer, model, version, known: sha !== versionFingerprint(dev.product, version) }, 'LwM2M client identified');
        this.ctx.events.emit('device.checkin', { deviceId: ep, product: dev.product, runningSha256: sha });
      } else {
        devices.recordCheckin(ep, { runningSha256: sha, bearer: reg.bearer }, this.ctx.clock.now());
      }
      await this.flow!.onContact(reg, devices.get(ep)!, sha, fresh);
    } catch (err) {
      this.log.warn({ endpoint: ep, err: (err as Error).message }, 'LwM2M client not identified; tried again at its next Update');
    } finally {
      this.busy.delete(ep);
      const next = this.again.get(ep);
      this.again.delete(ep);
      if (next) void this.identify(next.reg, next.fresh, devices, releases);
    }
  }
}
