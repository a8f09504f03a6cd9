import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configSchema, type Config } from '../config/index.ts';
import { Daemon } from '../daemon.ts';
import { silentLogger, type Logger } from '../log.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../rollout/plan.ts';
import { rolloutSpecSchema, type RolloutSpec } from '../rollout/spec.ts';
import type { BearerModelConfig } from '../schedule/config.ts';
import { LORA_DEFAULTS } from '../schedule/lora-airtime.ts';
import { loraLimits } from '../schedule/bearer-model.ts';
import type { Db } from '../store/database.ts';
import { DeviceRepo } from '../store/devices.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { RolloutRepo, TERMINAL_STATES, type RolloutState } from '../store/rollouts.ts';
import { SimDevice } from './device.ts';
import { RadioMonitor, type Behaviour, type LinkModel } from './link.ts';
import { syntheticPatch } from './synthetic.ts';
import { EventLoop, VirtualClock } from './virtual-time.ts';

export type BearerPreset = 'nbiot' | 'lora-eu868';

export interface FleetOptions {
  devices: number;
  bearer: BearerPreset;
  patchSize: number;
  waves: Array<{ name?: string; size: number | string; soak?: string }>;
  /** Share of the canary (wave 0) whose self-test fails. */
  canaryFailRate?: number;
  loss?: number;
  powerCutRate?: number;
  /** Restart the daemon (same data dir, same port) once this share of devices finished. */
  restartAt?: number;
  maxVirtualHours?: number;
  seed?: number;
  /** Data dir to use and keep; without one the run makes a temp dir and removes it at the end. */
  dataDir?: string;
  log?: Logger;
  onProgress?: (p: Progress) => void;
  /** Overrides of the bearer model (e.g. maxConcurrentTransfers). */
  model?: Record<string, unknown>;
}

export interface Progress {
  virtualMs: number;
  updated: number;
  failed: number;
  total: number;
  rolloutState: string;
  wave: number;
}

export interface FleetResult {
  devices: number;
  updated: number;
  failed: number;
  rolloutState: RolloutState | 'unknown';
  rolloutReason: string | null;
  /** Virtual ms from the first device waking to the last one booting the release. */
  timeToUpdateMs: number;
  patchSize: number;
  manifestBytes: number;
  downlinkBytes: number;
  minimumBytes: number;
  retransmittedBytes: number;
  refusals: number;
  /** Block requests the gateway refused without answering (duty-cycled bearer). */
  silentRefusals: number;
  powerCuts: number;
  airtimeMs: number;
  dutyCycle: number | undefined;
  dutyCycleViolations: number;
  restarts: number;
  waves: Array<{ wave: number; name: string; size: number; startedMs: number | null; soakStartedMs: number | null; doneMs: number | null; succeeded: number; failed: number }>;
  monitor: RadioMonitor;
  model: BearerModelConfig;
  blockSize: number;
  realMs: number;
}

const EPOCH = Date.parse('2026-11-25T08:00:00Z');

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The bearer models the simulator runs. LoRa: a 0.5 % control reserve (the pacing bucket already counts
 * every frame, so the hourly window needs only a little headroom; bench:fleet LoRa 1000 measured
 * 0 violations and 0.5 % less time than at 1 %) and 10 s of airtime the bucket may
 * save up (a device pausing between blocks, for its own uplink duty cycle or a reboot, leaves airtime
 * the next one uses instead of losing it).
 */
export function presetModel(bearer: BearerPreset, overrides: Record<string, unknown> = {}): BearerModelConfig {
  const raw =
    bearer === 'nbiot'
      ? { kind: 'nbiot', rttMs: 2000, bytesPerSecond: { ce0: 2500, ce1: 800, ce2: 150 }, maxConcurrent: { ce0: 16, ce1: 8, ce2: 2 }, ...overrides }
      : { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 9, maxConcurrentTransfers: 2, controlReservePercent: 0.5, burstMs: 10_000, ...overrides };
  return configSchema.parse({ schedule: { bearers: { udp: raw } } }).schedule.bearers.udp!;
}

function linkFor(model: BearerModelConfig, loss: number): LinkModel {
  if (model.kind === 'lora') {
    return {
      kind: 'lora',
      loss,
      downlink: loraLimits(model).radio,
      uplink: { ...LORA_DEFAULTS, sf: 7 },
      // LoRaWAN EU868 devices hop over channels in sub-bands g (867.x) and g1 (868.1-868.5): 1 % each.
      uplinkDutyCycle: 0.02,
      rx1DelayMs: 1000,
      frameOverheadBytes: model.frameOverheadBytes,
    };
  }
  return { kind: 'nbiot', rttMs: [1000, 3000], bytesPerSecond: model.kind === 'nbiot' ? model.bytesPerSecond.ce0 : 2500, loss, rsrp: -100 };
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/**
 * Runs a fleet of simulated devices against the real daemon (in this process, on loopback UDP, on a
 * virtual clock): provisions devices and two releases with a patch, applies a rollout, lets the
 * devices live until the rollout ends, and measures what went on air.
 */
export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  if (o.dataDir !== undefined) return runFleetIn(o.dataDir, o);
  // A data dir of our own is scratch: removed however the run ends.
  const dir = mkdtempSync(join(tmpdir(), 'furrow-sim-'));
  try {
    return await runFleetIn(dir, o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runFleetIn(dir: string, o: FleetOptions): Promise<FleetResult> {
  const started = performance.now();
  const random = mulberry32(o.seed ?? 1);
  const clock = new VirtualClock(EPOCH);
  const loop = new EventLoop(clock);
  const model = presetModel(o.bearer, o.model);
  const blockSize = model.kind === 'lora' ? 64 : 512;
  const config: Config = configSchema.parse({
    gateway: { id: 'sim' },
    data: { dir },
    log: { level: 'error' },
    releases: { allowUnsigned: true },
    coap: { host: '127.0.0.1', port: await freePort(), maxBlockSize: blockSize, rateLimit: { perSecond: 100_000, burst: 100_000 } },
    metrics: { port: 0 },
    schedule: { bearers: { udp: model } },
  });
  const log = o.log ?? silentLogger();
  let daemon = new Daemon({ config, file: join(dir, 'furrow.yaml') }, { log, clock });
  await daemon.start();
  const db = daemon.context.db;
  const product = 'sim-probe';
  const v1 = createHash('sha256').update('sim-v1').digest();
  const v2 = createHash('sha256').update('sim-v2').digest();
  const { keys } = seed(db, daemon, product, v1, v2, o.devices, o.patchSize, clock.now());
  const spec = rolloutSpecSchema.parse({
    id: 'sim-rollout',
    release: { product, version: '2.0.0' },
    waves: o.waves,
    halt: { maxFailureRate: '10%', maxRollbacks: 1000, minFinished: 5 },
  }) as RolloutSpec;
  const text = stringify(spec);
  const plan = planRollout(spec, { file: 'sim-rollout.yaml', text }, db, { schedule: config.schedule, patches: patchesTableLookup(db), now: clock.now() });
  applyPlan(db, plan, 'sim-rollout.yaml', clock.now());
  const canary = new Set(plan.waves[0]!.deviceIds);
  const failing = new Set([...canary].slice(0, Math.round(canary.size * (o.canaryFailRate ?? 0))));

  const monitor = new RadioMonitor(model.kind === 'lora' ? loraLimits(model).radio : undefined, model.kind === 'lora' ? model.frameOverheadBytes : 0);
  const behaviourFor = (id: string): Behaviour => ({
    checkinIntervalMs: 3_600_000,
    firstWakeMs: 600_000,
    powerCutRate: o.powerCutRate ?? 0,
    powerOffMs: [30_000, 300_000],
    selfTestFailRate: failing.has(id) ? 1 : 0,
    rebootMs: 5000,
  });
  let finished = 0;
  let updated = 0;
  let failed = 0;
  const devices = [...keys.entries()].map(
    ([id, key]) =>
      new SimDevice(id, key, {
        loop,
        port: config.coap.port,
        product,
        runningSha256: v1.toString('hex'),
        targetSha256: v2.toString('hex'),
        link: linkFor(model, o.loss ?? 0),
        behaviour: behaviourFor(id),
        monitor,
        random,
        onUpdated: (d) => {
          finished++;
          if (d.stats.result === 'booted') updated++;
          else failed++;
        },
      }),
  );
  const byId = new Map(devices.map((d) => [d.id, d]));
  // A request the gateway leaves unanswered (refused on a duty cycle) times out on the device at once,
  // not after the real-time wait for a datagram that will not come.
  let silentRefusals = 0;
  const listen = (dm: Daemon) =>
    dm.context.events.on('transfer.refused', 'sim', (e) => {
      if (e.answered) return;
      silentRefusals++;
      byId.get(e.deviceId)?.unanswered();
    });
  listen(daemon);
  for (const d of devices) await d.open();
  for (const d of devices) void d.live();

  const repo = () => new RolloutRepo(daemon.context.db);
  let restarts = 0;
  let state: RolloutState | 'unknown' = 'running';
  let steps = 0;
  const maxT = (o.maxVirtualHours ?? 24 * 30) * 3_600_000;
  await loop.run(
    () => finished >= o.devices || TERMINAL_STATES.includes(state as RolloutState) || state === 'halted',
    maxT,
    async () => {
      if (o.restartAt !== undefined && restarts === 0 && finished >= o.restartAt * o.devices) {
        // Between two events no exchange is in flight: stop and start the daemon on the same files.
        await daemon.stop();
        daemon = new Daemon({ config, file: join(dir, 'furrow.yaml') }, { log, clock });
        await daemon.start();
        listen(daemon);
        restarts++;
      }
      if (++steps % 50 !== 0) return;
      const r = repo().get('sim-rollout');
      state = r?.state ?? 'unknown';
      o.onProgress?.({ virtualMs: clock.t, updated, failed, total: o.devices, rolloutState: state, wave: r?.currentWave ?? 0 });
    },
  );
  // Let a halted rollout show that nothing more is offered: run on for a few hours of virtual time.
  if ((state as string) === 'halted') await loop.run(() => false, clock.t + 6 * 3_600_000);
  loop.stopped = true;
  for (const d of devices) d.close();
  const r = repo().get('sim-rollout');
  const waves = repo().waves('sim-rollout');
  const counts = repo().counts('sim-rollout');
  await daemon.stop();
  const rel = (t: number | null) => (t === null ? null : t - EPOCH);
  const updatedAt = devices.map((d) => d.stats.updatedAt).filter((t): t is number => t !== undefined);
  const sum = (f: (d: SimDevice) => number) => devices.reduce((a, d) => a + f(d), 0);
  const dc = model.kind === 'lora' ? loraLimits(model).dutyCycle : undefined;
  return {
    devices: o.devices,
    updated: devices.filter((d) => d.stats.result === 'booted').length,
    failed: devices.filter((d) => d.stats.result === 'failed').length,
    rolloutState: r?.state ?? 'unknown',
    rolloutReason: r?.reason ?? null,
    timeToUpdateMs: updatedAt.length ? Math.max(...updatedAt) : NaN,
    patchSize: o.patchSize,
    manifestBytes: Math.max(0, ...devices.map((d) => d.stats.manifestBytes)),
    downlinkBytes: monitor.downlinkBytes,
    minimumBytes: o.patchSize * devices.filter((d) => d.stats.result !== undefined).length,
    retransmittedBytes: sum((d) => d.stats.retransmittedBytes),
    refusals: sum((d) => d.stats.refusals),
    silentRefusals,
    powerCuts: sum((d) => d.stats.powerCuts),
    airtimeMs: monitor.airtimeMs,
    dutyCycle: dc,
    dutyCycleViolations: dc === undefined ? 0 : monitor.violations(dc, 3_600_000),
    restarts,
    waves: waves.map((w) => {
      const c = counts.find((x) => x.wave === w.wave);
      return { wave: w.wave, name: w.name, size: w.size, startedMs: rel(w.startedAt), soakStartedMs: rel(w.soakStartedAt), doneMs: rel(w.doneAt), succeeded: c?.succeeded ?? 0, failed: (c?.failed ?? 0) + (c?.rolledBack ?? 0) };
    }),
    monitor,
    model,
    blockSize,
    realMs: performance.now() - started,
  };
}

function seed(db: Db, daemon: Daemon, product: string, v1: Buffer, v2: Buffer, n: number, patchSize: number, now: number): { keys: Map<string, Buffer> } {
  const releases = new ReleaseRepo(db);
  const imageSize = 900_000;
  for (const [sha, version] of [[v1, '1.0.0'], [v2, '2.0.0']] as const) {
    if (!releases.get(sha.toString('hex'))) {
      releases.insert({ sha256: sha.toString('hex'), product, version, secureVersion: 0, size: imageSize, chip: 'esp32', appVersion: version, projectName: 'sim', idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: version === '1.0.0' ? now - 2 : now - 1 });
    }
  }
  const patch = syntheticPatch(patchSize, { sha256: v1, size: imageSize }, { sha256: v2, size: imageSize });
  const id = daemon.context.blobs.put(patch);
  db.prepare(`INSERT OR IGNORE INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)`).run(id, v1.toString('hex'), v2.toString('hex'), patch.length, now);
  const devices = new DeviceRepo(db);
  const keys = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const devId = `sim-${String(i).padStart(5, '0')}`;
    const key = createHash('sha256').update(`key-${devId}`).digest();
    if (!devices.get(devId)) {
      devices.add({ id: devId, product, deviceKey: key, runningSha256: v1.toString('hex'), labels: { sim: 'yes' } }, now);
      devices.recordCheckin(devId, { runningSha256: v1.toString('hex'), runningVersion: '1.0.0', bearer: 'udp', rsrp: -100 }, now);
    }
    keys.set(devId, key);
  }
  void randomBytes;
  return { keys };
}
