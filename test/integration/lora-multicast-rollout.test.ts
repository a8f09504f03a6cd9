import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MulticastRepo } from '../../src/bearer/lora/fuota/store.ts';
import { loadConfig } from '../../src/config/index.ts';
import { Daemon } from '../../src/daemon.ts';
import { silentLogger } from '../../src/log.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { RolloutRepo } from '../../src/store/rollouts.ts';
import { runFurrowInProcess } from '../helpers/cli.ts';
import { DaemonProcess } from '../helpers/daemon.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { APP_ID, PORTS } from '../helpers/chirpstack-emulator-gateway.ts';
import { corpusPatch, type CorpusPatch } from '../helpers/chirpstack-emulator-patch.ts';
import { WarpClock } from '../helpers/chirpstack-emulator-session.ts';
import { ClockedLoraDevice, waitFor } from './lora-multicast-harness.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * A virtual clock whose pacing waits can be frozen (every wait, or every wait after the first
 * `freezeAfterSleeps`), to stop the daemon in the middle of a broadcast at a known point.
 */
class FreezableClock extends WarpClock {
  frozen = false;
  freezeAfterSleeps = Infinity;
  sleeps = 0;
  override readonly sleep = async (ms: number): Promise<void> => {
    if (this.frozen || ++this.sleeps > this.freezeAfterSleeps) {
      this.frozen = true;
      return new Promise<void>(() => undefined);
    }
    this.skippedMs += ms;
    await new Promise((r) => setImmediate(r));
  };
}

/** Warps every wait but lets real time pass for each, so a test can act while the broadcast is under way. */
class SlowWarpClock extends WarpClock {
  override readonly sleep = async (ms: number): Promise<void> => {
    this.skippedMs += ms;
    await new Promise((r) => setTimeout(r, 60));
  };
}

interface Fleet {
  product: string;
  version: string;
  base: string;
  target: string;
  patch: Buffer;
  devices: Array<{ id: string; eui: string; key: Buffer; dev?: ClockedLoraDevice }>;
}

describe('a rollout with delivery.lora: multicast, run by the daemon through ChirpStack (emulated)', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let dir: string;
  let file: string;
  let daemon: Daemon | undefined;
  const fleets: Fleet[] = [];
  const loraDevices: Record<string, Record<string, string>> = {};
  const cli = (...args: string[]) => runFurrowInProcess(['--config', file, ...args]);

  /** Releases, a stored patch and devices, as release add / delta build / devices add leave them. */
  const addFleet = (name: string, product: string, n: number, firstEui: number, patchBytes: number, keyless = 0, real?: CorpusPatch): Fleet => {
    const db = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    const blobs = new BlobStore(join(dir, 'data', 'blobs'));
    const base = real?.baseSha256 ?? sha(Buffer.from(`${product}-base`));
    const target = real?.targetSha256 ?? sha(Buffer.from(`${product}-target`));
    const releases = new ReleaseRepo(db);
    const now = Date.now();
    const [fromVersion, version] = real ? ['0.14.3', '0.14.4'] : ['1.0.0', '1.1.0'];
    for (const [s, v] of [[base, fromVersion], [target, version]] as const) {
      if (!releases.get(s)) releases.insert({ sha256: s, product, version: v, secureVersion: 1, size: 900_000, chip: 'esp32', appVersion: v, projectName: product, idfVersion: 'v5.1', buildDate: null, signature: null, signer: null, addedAt: now });
    }
    // A real furrow patch where a device must be able to fetch it by CoAP (its manifest is built from it).
    const patch = real?.patch ?? randomBytes(patchBytes);
    const patchId = blobs.put(patch);
    db.prepare("INSERT OR IGNORE INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, base, target, patch.length, now);
    const fleet: Fleet = { product, version, base, target, patch, devices: [] };
    for (let i = 0; i < n; i++) {
      const id = `${name}-${i + 1}`;
      const eui = `70b3d57ed0e${(firstEui + i).toString(16).padStart(5, '0')}`;
      const key = randomBytes(32);
      new DeviceRepo(db).add({ id, product, deviceKey: key, runningSha256: base }, now);
      loraDevices[eui] = i < n - keyless ? { deviceId: id, genAppKey: randomBytes(16).toString('hex') } : { deviceId: id };
      fleet.devices.push({ id, eui, key });
    }
    db.close();
    fleets.push(fleet);
    return fleet;
  };

  const writeConfig = (burstMs: number): void => {
    const cfg = {
      data: { dir: join(dir, 'data') },
      coap: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 5000, burst: 5000 } },
      metrics: { port: 0 },
      lora: {
        chirpstack: { mqttUrl: broker.url, applicationId: APP_ID, apiUrl: emu.apiUrl },
        unicast: { defaultDr: 5 },
        multicast: { dr: 5, redundancy: 0.3, answerTimeoutSeconds: 1, maxAttempts: 8, repairDeadlineSeconds: 30 },
        devices: loraDevices,
      },
      schedule: { bearers: { 'lora-mc': { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 7, burstMs } } },
    };
    writeFileSync(file, stringify(cfg));
  };

  const startDaemon = async (clock: WarpClock): Promise<Daemon> => {
    daemon = new Daemon(loadConfig(file), { log: silentLogger(), clock });
    await daemon.start();
    return daemon;
  };

  const startDevices = (f: Fleet): void => {
    for (const d of f.devices) {
      // Each device's clock is off by up to an hour: the session must have them resync (TS003) first.
      d.dev = new ClockedLoraDevice(emu, d.eui, { dr: 5, ports: PORTS, heartbeatMs: 250, repairIntervalMs: 400, clockOffsetMs: Math.round((Math.random() - 0.5) * 7_200_000) });
      d.dev.start();
    }
  };

  const rolloutFile = (id: string, f: Fleet, minGroupSize: number): string => {
    const p = join(dir, `${id}.yaml`);
    const select = { devices: f.devices.map((d) => d.id) };
    writeFileSync(p, stringify({ id, release: { product: f.product, version: f.version }, select, waves: [{ size: 'rest' }], delivery: { lora: 'multicast', minGroupSize } }));
    return p;
  };

  const session = (rolloutId: string) => {
    const db = daemon!.context.db;
    return new MulticastRepo(db).list({ rolloutId })[0];
  };

  beforeAll(async () => {
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 77, lossDown: 0.05, lossUp: 0.05, rxWindowMs: 300 });
    await emu.start();
    dir = mkdtempSync(join(tmpdir(), 'furrow-lora-mc-rollout-'));
    file = join(dir, 'furrow.yaml');
    // The daemon creates the schema; fleets are added to its database before it starts.
    writeConfig(600_000);
    openDatabase(join(dir, 'data', 'furrow.db')).close();
    // Fleets whose devices must fetch the manifest by CoAP get a real furrow patch (its manifest is built from it).
    const wled = await corpusPatch();
    addFleet('soil', 'wled', 6, 0x100, 0, 1, wled);
    addFleet('mast', 'weather-mast', 4, 0x200, 20_000);
    addFleet('valve', 'wled', 3, 0x300, 0, 0, wled);
    addFleet('relay', 'soil-relay', 3, 0x400, 5_000);
    addFleet('pump', 'pump-ctl', 3, 0x500, 5_000);
    addFleet('gate', 'gate-ctl', 3, 0x600, 5_000);
    writeConfig(600_000);
  });

  afterAll(async () => {
    for (const f of fleets) for (const d of f.devices) d.dev?.stop();
    await daemon?.stop();
    await emu?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('multicasts the patch to the wave, resyncs unknown clocks, and counts the devices\' own reports', async () => {
    const f = fleets[0]!;
    await startDaemon(new WarpClock());
    startDevices(f);
    await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
    const apply = await cli('rollout', 'apply', '--yes', rolloutFile('soil-mc', f, 3));
    expect(apply.code, apply.stderr).toBe(0);
    await waitFor(() => session('soil-mc')?.state === 'done', 'the multicast session to finish', 40_000);
    const s = session('soil-mc')!;
    const members = new MulticastRepo(daemon!.context.db).members(s.id);
    // The device without a genAppKey is not in the session: it stays pending for unicast CoAP.
    expect(members.map((m) => m.deviceId).sort()).toEqual(f.devices.slice(0, 5).map((d) => d.id).sort());
    expect(members.filter((m) => m.state !== 'complete').map((m) => [m.deviceId, m.state, m.reason])).toEqual([]);
    // Every clock was off by up to an hour; the gateway's answers (delivered with the session's own
    // frames) set them to within the one-second resolution of TS003.
    await waitFor(() => f.devices.slice(0, 5).every((d) => d.dev!.corrections.length > 0), 'every member clock corrected');
    for (const d of f.devices.slice(0, 5)) {
      expect(d.dev!.fuotaData()?.equals(f.patch), d.id).toBe(true);
      expect(Math.abs(d.dev!.clockOffsetMs), d.id).toBeLessThanOrEqual(2000);
    }
    const rollouts = new RolloutRepo(daemon!.context.db);
    expect(rollouts.member('soil-mc', f.devices[5]!.id)?.state).toBe('pending');
    expect(rollouts.members('soil-mc', { states: ['offered'] }).length).toBe(5);

    const status = await cli('lora', 'multicast', 'status');
    expect(status.stdout).toMatch(new RegExp(`${s.id}  soil-mc wave 0  done .*100%  fragments ${s.nbFrag! + s.parity!}/${s.nbFrag! + s.parity!}  devices 5/5 done, 0 missing, 0 failed`));
    // The scheduler admitted every multicast fragment on the multicast bearer (the duty-cycle gate).
    expect(emu.stats.multicastDown.frames).toBe(s.nbFrag! + s.parity!);

    // Each device checks in as usual: the answer names the patch it already holds, so it fetches only
    // the signed manifest by unicast, applies, boots and reports; the rollout engine counts the report.
    for (const d of f.devices.slice(0, 5)) {
      const c = await d.dev!.checkin(d.id, d.key, f.product, f.base);
      expect(c.map.get(1), d.id).toBe(2);
      expect(Buffer.from(c.map.get(8) as Uint8Array).toString('hex')).toBe(sha(d.dev!.fuotaData()!));
      const manifest = await d.dev!.download(String(c.map.get(3)).split('/'));
      expect(manifest.data.length).toBeGreaterThan(100);
      expect(await d.dev!.report(d.id, d.key, 'booted', f.target)).toBe('2.04');
    }
    await waitFor(() => rollouts.members('soil-mc', { states: ['succeeded'] }).length === 5, 'five successes');
  });

  it('resumes a broadcast cut by a daemon stop without sending any fragment twice', async () => {
    const f = fleets[1]!;
    await daemon!.stop();
    const frozen = new FreezableClock();
    frozen.freezeAfterSleeps = 12; // about a dozen fragments, then the duty cycle never frees up
    await startDaemon(frozen);
    startDevices(f);
    await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
    const mcBefore = emu.stats.multicastDown.frames;
    expect((await cli('rollout', 'apply', '--yes', rolloutFile('mast-mc', f, 3))).code).toBe(0);
    await waitFor(() => frozen.frozen, 'the broadcast to stall on the frozen duty cycle', 30_000);
    expect(session('mast-mc')!.sent).toBeGreaterThanOrEqual(5);
    const live = await cli('lora', 'multicast', 'status');
    expect(live.stdout).toMatch(/mast-mc wave 0  broadcast .*%  fragments \d+\/\d+  devices 0\/4 done, 4 missing, 0 failed/);
    await daemon!.stop();

    const cutDb = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    const row = new MulticastRepo(cutDb).list({ rolloutId: 'mast-mc' })[0]!;
    cutDb.close();
    expect(row.state).toBe('broadcast');
    expect(emu.groups.has(row.groupId!)).toBe(true); // kept for the resume
    expect(emu.stats.multicastDown.frames - mcBefore).toBe(row.sent);

    await startDaemon(new WarpClock());
    await waitFor(() => session('mast-mc')?.state === 'done', 'the resumed session to finish', 40_000);
    const done = session('mast-mc')!;
    expect(emu.stats.multicastDown.frames - mcBefore).toBe(done.nbFrag! + done.parity!);
    expect(emu.groups.has(done.groupId!)).toBe(false);
    for (const d of f.devices) expect(d.dev!.fuotaData()?.equals(f.patch), d.id).toBe(true);
  });

  it('holds session members back from unicast, and hands them unicast once the operator cancels', async () => {
    const f = fleets[2]!;
    await daemon!.stop();
    const frozen = new FreezableClock();
    frozen.frozen = true; // the broadcast waits for the duty cycle, forever
    await startDaemon(frozen);
    startDevices(f);
    await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
    expect((await cli('rollout', 'apply', '--yes', rolloutFile('valve-mc', f, 2))).code).toBe(0);
    await waitFor(() => session('valve-mc')?.state === 'broadcast', 'the session to reach the broadcast');
    const d = f.devices[0]!;
    const held = await d.dev!.checkin(d.id, d.key, f.product, f.base);
    expect(held.code).toBe('2.05');
    expect(held.map.get(1)).toBe(1); // come back later: it listens to the multicast group
    expect(held.map.get(2)).toBe(600);

    const s = session('valve-mc')!;
    const cancel = await cli('lora', 'multicast', 'cancel', s.id);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`cancel requested: the running daemon stops session ${s.id}`));
    await waitFor(() => session('valve-mc')?.state === 'cancelled', 'the session to stop');
    expect(emu.groups.has(s.groupId!)).toBe(false);
    const members = new MulticastRepo(daemon!.context.db).members(s.id);
    expect(members.every((m) => m.state === 'failed' && m.reason === 'cancelled by the operator')).toBe(true);
    const unicast = await d.dev!.checkin(d.id, d.key, f.product, f.base);
    expect(unicast.map.get(1)).toBe(2); // update: the CoAP download, as without multicast
    expect(unicast.map.get(5)).toBe(f.patch.length);
    const again = await cli('lora', 'multicast', 'cancel', s.id);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already ended \(cancelled\)/);
  });

  it('resumes after kill -9 of the daemon process in the middle of the broadcast', async () => {
    const f = fleets[3]!;
    await daemon!.stop();
    daemon = undefined;
    // The real daemon on the real clock: an empty duty-cycle bucket makes it wait ~4 s per SF7 fragment.
    const proc = DaemonProcess.start(['--config', file, 'start'], { env: { FURROW_LOG_LEVEL: 'info' } });
    try {
      await proc.waitForMsg('furrow started', 30_000);
      startDevices(f);
      await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
      const mcBefore = emu.stats.multicastDown.frames;
      expect((await cli('rollout', 'apply', '--yes', rolloutFile('relay-mc', f, 3))).code).toBe(0);
      const db = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
      try {
        await waitFor(() => (new MulticastRepo(db).list({ rolloutId: 'relay-mc' })[0]?.sent ?? 0) >= 1, 'the first fragment on air', 40_000);
        proc.signal('SIGKILL');
        await proc.exited;
        const row = new MulticastRepo(db).list({ rolloutId: 'relay-mc' })[0]!;
        expect(row.state).toBe('broadcast');
        expect(emu.groups.has(row.groupId!)).toBe(true);
        expect(emu.stats.multicastDown.frames - mcBefore).toBe(row.sent);
      } finally {
        db.close();
      }
      await startDaemon(new WarpClock());
      await waitFor(() => session('relay-mc')?.state === 'done', 'the resumed session to finish', 40_000);
      const done = session('relay-mc')!;
      expect(emu.stats.multicastDown.frames - mcBefore).toBe(done.nbFrag! + done.parity!);
      for (const d of f.devices) expect(d.dev!.fuotaData()?.equals(f.patch), d.id).toBe(true);
    } finally {
      if (proc.proc.exitCode === null && proc.proc.signalCode === null) proc.signal('SIGKILL');
    }
  });

  it('holds the broadcast while the rollout is paused and finishes it after resume, no fragment sent twice', async () => {
    const f = fleets[5]!;
    await daemon!.stop();
    await startDaemon(new SlowWarpClock());
    startDevices(f);
    await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
    const mcBefore = emu.stats.multicastDown.frames;
    expect((await cli('rollout', 'apply', '--yes', rolloutFile('gate-mc', f, 3))).code).toBe(0);
    await waitFor(() => (session('gate-mc')?.sent ?? 0) >= 2, 'the broadcast to be under way', 30_000);
    expect((await cli('rollout', 'pause', 'gate-mc')).code).toBe(0);
    // The fragment being paced when the pause landed may still go; after that nothing does.
    await new Promise((r) => setTimeout(r, 500));
    const held = session('gate-mc')!;
    await new Promise((r) => setTimeout(r, 1500));
    expect(session('gate-mc')!.sent).toBe(held.sent);
    expect(session('gate-mc')!.state).toBe('broadcast');
    expect(held.sent).toBeLessThan(held.nbFrag! + held.parity!);

    expect((await cli('rollout', 'resume', 'gate-mc')).code).toBe(0);
    await waitFor(() => session('gate-mc')?.state === 'done', 'the session to finish after resume', 40_000);
    const done = session('gate-mc')!;
    expect(emu.stats.multicastDown.frames - mcBefore).toBe(done.nbFrag! + done.parity!);
    for (const d of f.devices) expect(d.dev!.fuotaData()?.equals(f.patch), d.id).toBe(true);
  });

  it('stops the broadcast when the rollout is halted, and fails its members over', async () => {
    const f = fleets[4]!;
    await daemon!.stop();
    const frozen = new FreezableClock();
    frozen.frozen = true;
    await startDaemon(frozen);
    startDevices(f);
    await waitFor(() => f.devices.every((d) => emu.devices.get(d.eui)!.fCntUp >= 2), 'every device of the fleet to be heard');
    expect((await cli('rollout', 'apply', '--yes', rolloutFile('pump-mc', f, 3))).code).toBe(0);
    await waitFor(() => session('pump-mc')?.state === 'broadcast', 'the session to reach the broadcast');
    expect((await cli('rollout', 'halt', 'pump-mc', '--reason', 'canary bricked')).code).toBe(0);
    await waitFor(() => session('pump-mc')?.state === 'cancelled', 'the session to stop with the rollout');
    const s = session('pump-mc')!;
    expect(s.reason).toBe('rollout pump-mc is halted');
    expect(emu.groups.has(s.groupId!)).toBe(false);
    expect(new MulticastRepo(daemon!.context.db).members(s.id).every((m) => m.state === 'failed')).toBe(true);
  });
});
