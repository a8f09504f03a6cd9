/**
 * The CoAP delivery service: gateway key, repositories, the message layer and its resources, and the
 * bearers it listens on. Policy, gate and patch provider come from the rollout, schedule and delta
 * modules through the constructor; the defaults keep it useful on its own.
 */
import { resolve } from 'node:path';
import type { DatagramTransport } from '../bearer/types.ts';
import { UdpTransport } from '../bearer/udp.ts';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import { loadOrCreateGatewayKey, type GatewayKey } from '../manifest/gateway-key.ts';
import type { PatchProvider, TransmitGate, UpdatePolicy } from '../policy.ts';
import type { Config } from '../config/index.ts';
import type { Service } from '../service.ts';
import { DeviceRepo } from '../store/devices.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { TransferStore } from '../store/transfers.ts';
import { RequestAuthenticator } from './auth.ts';
import { blockSize } from './block.ts';
import { admitAll, NewestReleasePolicy, StoredPatchProvider } from './default-policy.ts';
import { DeliveryRepo } from './deliveries.ts';
import type { RadioAdvice, ResourceDeps } from './deps.ts';
import { PatchCache } from './patch-cache.ts';
import { CheckinResource } from './resources/checkin.ts';
import { ManifestResource } from './resources/manifest.ts';
import { PatchResource } from './resources/patch.ts';
import { ReportResource } from './resources/report.ts';
import { WellKnownCoreResource } from './resources/well-known-core.ts';
import type { PeerLimits } from './peers.ts';
import { CoapServer, type Resource } from './server.ts';
import { BlockwisePost } from './blockwise-post.ts';

export interface CoapServiceOptions {
  /** Bearers to serve; default: one UDP socket on coap.host/coap.port. */
  transports?: DatagramTransport[];
  policy?: UpdatePolicy;
  gate?: TransmitGate;
  /** Duty-cycle advice (the scheduler): silent refusals, block cadence, idle check-in interval. */
  radio?: RadioAdvice;
  /**
   * Wraps every bearer before it is served, those given here and those added later with addTransport
   * (the scheduler's MeteredTransport, so the duty cycle is enforced on a bearer that came up late too).
   */
  wrapTransport?: (t: DatagramTransport) => DatagramTransport;
  patches?: PatchProvider;
}

const szxOf = (size: number): number => Math.log2(size) - 4;

function resourceLimits(cfg: Config['coap']): ResourceDeps['limits'] {
  return { maxSzx: szxOf(cfg.maxBlockSize), maxRequestPayload: cfg.maxRequestPayload, buildRetrySeconds: cfg.buildRetrySeconds, progressIntervalMs: cfg.progressIntervalMs };
}

/**
 * Duplicate-detection memory is bounded at maxPeers × repliesPerPeer × ~1.1 KiB (≈ 44 MiB), even
 * under a flood from many spoofed source ports. Two replies per peer: a device has one request in
 * flight (NSTART = 1), the second covers a late duplicate of the one before.
 */
function peerLimits(cfg: Config['coap']): PeerLimits {
  return { ratePerSecond: cfg.rateLimit.perSecond, burst: cfg.rateLimit.burst, repliesPerPeer: 2, maxPeers: 20_000 };
}

export class CoapService implements Service {
  readonly name = 'coap';
  private server: CoapServer | undefined;
  private transfers: TransferStore | undefined;
  private transports: DatagramTransport[] = [];
  private key: GatewayKey | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private deps: ResourceDeps | undefined;
  private log: Logger;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly opts: CoapServiceOptions = {},
  ) {
    this.log = ctx.log.child({ module: 'coap' });
  }

  get gatewayKey(): GatewayKey {
    if (!this.key) throw new Error('coap service not started');
    return this.key;
  }

  get stats(): CoapServer['stats'] | undefined {
    return this.server?.stats;
  }

  /** Peers with duplicate-detection state (kept for EXCHANGE_LIFETIME after their last request). */
  get peerCount(): number {
    return this.server?.peerCount ?? 0;
  }

  /** The bearers in use (tests read the bound UDP port from here). */
  get bearers(): readonly DatagramTransport[] {
    return this.transports;
  }

  /** The message layer, for modules that add resources or send requests (src/lwm2m). */
  get coapServer(): CoapServer | undefined {
    return this.server;
  }

  get transferStore(): TransferStore | undefined {
    return this.transfers;
  }

  async start(): Promise<void> {
    const cfg = this.ctx.config.coap;
    const key = loadOrCreateGatewayKey(resolve(this.ctx.config.data.dir));
    this.key = key;
    if (key.created) this.log.info({ kid: key.kid.toString('hex'), path: key.path }, 'generated gateway signing key; provision devices with `furrow keys gateway`');
    if (key.looseMode) this.log.warn({ path: key.path, mode: key.looseMode }, 'gateway key is readable by others; chmod 600 it');
    const db = this.ctx.db;
    const transfers = new TransferStore(db, this.ctx.clock, cfg.transfers);
    const devices = new DeviceRepo(db);
    const deps: ResourceDeps = {
      log: this.log,
      clock: this.ctx.clock,
      events: this.ctx.events,
      devices,
      releases: new ReleaseRepo(db),
      deliveries: new DeliveryRepo(db),
      transfers,
      patches: this.opts.patches ?? new StoredPatchProvider(db),
      patchBytes: new PatchCache(this.ctx.blobs),
      policy: this.opts.policy ?? new NewestReleasePolicy(db),
      gate: this.opts.gate ?? admitAll,
      radio: this.opts.radio,
      auth: new RequestAuthenticator(devices),
      gatewayKey: key,
      limits: resourceLimits(cfg),
    };
    this.deps = deps;
    const server = new CoapServer({
      log: this.log,
      clock: this.ctx.clock,
      limits: peerLimits(cfg),
      maxDatagram: Math.max(blockSize(6) + 256, ...(this.opts.transports ?? []).map((t) => t.maxDatagram)),
    });
    const patch = new PatchResource(deps);
    // Block-wise POST (PROTOCOL.md "Small frames"): opt-in by the device, so v1 firmware sees no change.
    const blockwise = (r: Resource) => new BlockwisePost(r, { maxBytes: () => deps.limits.maxRequestPayload, maxSzx: () => deps.limits.maxSzx, monotonic: () => this.ctx.clock.monotonic(), log: this.log });
    for (const r of [blockwise(new CheckinResource(deps)), new ManifestResource(deps), patch, blockwise(new ReportResource(deps))]) server.addResource(r);
    server.addResource(new WellKnownCoreResource(() => server.resources(), () => deps.limits.maxSzx));
    transfers.start();
    const abandoned = transfers.abandonStale();
    if (abandoned > 0) this.log.info({ abandoned }, 'marked transfers idle for a week as aborted');
    server.start();
    this.transfers = transfers;
    this.server = server;
    this.sweep = setInterval(() => patch.sweep(10 * 60_000), 60_000);
    this.sweep.unref();
    const transports = this.opts.transports ?? [new UdpTransport({ host: cfg.host, port: cfg.port })];
    for (const t of transports) await this.addTransport(t);
  }

  /**
   * Limits, block size and timings apply at once; the listening address needs a restart (the
   * daemon's data dir rule), so a changed host/port is reported and the old socket stays.
   */
  reload(config: Config): void {
    const cfg = config.coap;
    if (!this.server || !this.deps) return;
    if (cfg.host !== this.ctx.config.coap.host || cfg.port !== this.ctx.config.coap.port) {
      this.log.warn({ host: cfg.host, port: cfg.port }, 'coap.host/coap.port changed: takes effect after a restart');
    }
    this.deps.limits = resourceLimits(cfg);
    this.server.setLimits(peerLimits(cfg));
  }

  /** Serve another bearer (e.g. a modem that came up after start). */
  async addTransport(raw: DatagramTransport): Promise<void> {
    if (!this.server) throw new Error('coap service not started');
    const t = this.opts.wrapTransport ? this.opts.wrapTransport(raw) : raw;
    this.server.attach(t);
    await t.start();
    this.transports.push(t);
    this.log.info({ bearer: t.name, kind: t.kind, maxDatagram: t.maxDatagram, port: raw instanceof UdpTransport ? raw.port : undefined, metered: t !== raw || undefined }, 'CoAP listening');
  }

  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    this.server?.stop();
    for (const t of this.transports.reverse()) {
      try {
        await t.stop();
      } catch (err) {
        this.log.warn({ bearer: t.name, err }, 'bearer did not stop cleanly');
      }
    }
    this.transports = [];
    // Flush last: offsets served until the sockets closed are kept.
    this.transfers?.stop();
  }
}
