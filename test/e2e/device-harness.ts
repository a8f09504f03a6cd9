/**
 * End-to-end world for the furrow-device simulator: the real CoapService (real UDP socket, SQLite
 * file, blob store, gateway key) with two releases of a corpus product signed by a release key, the
 * furrow patch between them made by the TypeScript encoder, a registered device, and a UDP proxy
 * between device and gateway that counts patch bytes on the air and can tamper with answers.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { UdpTransport } from '../../src/bearer/udp.ts';
import { systemClock } from '../../src/clock.ts';
import { CoapService } from '../../src/coap/service.ts';
import { configSchema } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { EventBus } from '../../src/events.ts';
import { silentLogger } from '../../src/log.ts';
import { generateEs256KeyPair } from '../../src/manifest/cose.ts';
import type { TransmitGate } from '../../src/policy.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { signStatement } from '../../src/release/statement.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { readCorpus } from '../helpers/corpus.ts';
import { bin, buildFirmware, corpusPatch } from '../unit/firmware/fw.ts';
import { afterEach } from 'vitest';
import { tempDir } from '../helpers/tmp.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface WorldOptions {
  from: string;
  to: string;
  product?: string;
  /** The version the vendor's release statement of the new release names (default: its version, "new"). */
  statementVersion?: string;
  /** Secure version of the new release (default 1). */
  secureVersion?: number;
  /** Replaces the served patch bytes (to serve a wrong-base or corrupted patch). */
  mutatePatch?: (patch: Buffer) => Buffer;
  /** Serve the patch as if it were made from this image (a patch for the wrong base). */
  patchFrom?: string;
  /** The scheduler's gate on every Block2 reply (default: admit all). */
  gate?: TransmitGate;
  /** The patch's chunk output limit (delta.chunkBytes; default the encoder's 1 MiB). */
  chunkSize?: number;
  /** Extra coap config (e.g. maxBlockSize). */
  coap?: Record<string, unknown>;
}

export interface Report {
  status: string;
  reason?: string;
}

export interface World {
  dir: string;
  proxyPort: number;
  product: string;
  deviceId: string;
  patchSize: number;
  fromImage: Buffer;
  toImage: Buffer;
  reports: Report[];
  /** Patch payload bytes the gateway sent through the proxy (re-sends included). */
  patchBytesSent: number;
  /** Set to change gateway answers on their way to the device. */
  tamper: ((pkt: ParsedPacket) => ParsedPacket | null) | undefined;
  deviceArgs(flashDir: string, extra?: string[]): string[];
  stop(): Promise<void>;
}

export async function startWorld(opts: WorldOptions): Promise<World> {
  buildFirmware();
  const dir = mkdtempSync(join(tmpdir(), 'furrow-e2e-device-'));
  const config = configSchema.parse({ data: { dir }, coap: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 100_000, burst: 100_000 }, ...opts.coap } });
  const log = silentLogger();
  const db: Db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
  const ctx: DaemonContext = { config, configFile: join(dir, 'furrow.yaml'), log, db, blobs: new BlobStore(join(dir, 'blobs')), events: new EventBus(log), clock: systemClock };
  const product = opts.product ?? 'farm-sensor';
  const deviceId = 'sensor-1';
  const deviceKey = randomBytes(32);
  const fromImage = readCorpus(opts.from);
  const toImage = readCorpus(opts.to);
  const release = generateEs256KeyPair();
  const releases = new ReleaseRepo(db);
  const now = Date.now();
  const addRelease = (img: Buffer, version: string, secureVersion: number, addedAt: number, signedVersion = version) => {
    const sha256 = sha(img);
    const signature = signStatement({ product, version: signedVersion, secureVersion, sha256, size: img.length }, release.privateKey);
    releases.insert({ sha256, product, version, secureVersion, size: img.length, chip: 'esp32', appVersion: version, projectName: product, idfVersion: 'v5.1', buildDate: null, signature, signer: null, addedAt });
  };
  addRelease(fromImage, 'old', 0, now - 1000);
  addRelease(toImage, 'new', opts.secureVersion ?? 1, now, opts.statementVersion);
  let patch: Buffer = readFileSync(await corpusPatch(opts.patchFrom ?? opts.from, opts.to, opts.chunkSize));
  if (opts.mutatePatch) patch = opts.mutatePatch(Buffer.from(patch));
  const patchId = ctx.blobs.put(patch);
  db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, sha(fromImage), sha(toImage), patch.length, now);
  new DeviceRepo(db).add({ id: deviceId, product, deviceKey, runningSha256: sha(fromImage) }, now);

  const transport = new UdpTransport({ host: '127.0.0.1', port: 0 });
  const service = new CoapService(ctx, { transports: [transport], ...(opts.gate ? { gate: opts.gate } : {}) });
  await service.start();
  writeFileSync(join(dir, 'gateway.pub'), service.gatewayKey.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'release.pub'), release.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'device.key'), deviceKey.toString('hex'));

  const reports: Report[] = [];
  const off = ctx.events.on('device.report', 'test', (r) => {
    reports.push({ status: r.status, ...(r.reason === undefined ? {} : { reason: r.reason }) });
  });

  const etag = Buffer.from(patchId, 'hex').subarray(0, 8);
  const world: World = {
    dir,
    proxyPort: 0,
    product,
    deviceId,
    patchSize: patch.length,
    fromImage,
    toImage,
    reports,
    patchBytesSent: 0,
    tamper: undefined,
    deviceArgs(flashDir, extra = []) {
      return [
        '--server', `127.0.0.1:${world.proxyPort}`, '--device-id', deviceId, '--key-file', join(dir, 'device.key'),
        '--product', product, '--flash', flashDir, '--image', join(dir, 'factory.bin'),
        '--gateway-pub', join(dir, 'gateway.pub'), '--release-pub', join(dir, 'release.pub'),
        '--ack-timeout-ms', '300', '--max-sleep', '0', '--max-wakes', '20', ...extra,
      ];
    },
    async stop() {
      off();
      proxy.close();
      upstream.close();
      await service.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  writeFileSync(join(dir, 'factory.bin'), fromImage);

  // the proxy: device <-> proxy <-> gateway
  const proxy: Socket = createSocket('udp4');
  const upstream: Socket = createSocket('udp4');
  let device: RemoteInfo | undefined;
  proxy.on('message', (msg, rinfo) => {
    device = rinfo;
    upstream.send(msg, transport.port, '127.0.0.1');
  });
  upstream.on('message', (msg) => {
    if (!device) return;
    let out: Buffer = msg;
    try {
      let pkt = parse(msg);
      const tag = pkt.options.find((o) => o.name === 'ETag')?.value;
      if (pkt.code === '2.05' && tag && Buffer.compare(Buffer.from(tag), etag) === 0) world.patchBytesSent += pkt.payload.length;
      if (world.tamper) {
        const t = world.tamper(pkt);
        if (t === null) return; // dropped
        pkt = t;
        out = generate(pkt);
      }
    } catch {
      /* not CoAP: pass through unchanged */
    }
    proxy.send(out, device.port, device.address);
  });
  await new Promise<void>((res) => proxy.bind(0, '127.0.0.1', () => res()));
  await new Promise<void>((res) => upstream.bind(0, '127.0.0.1', () => res()));
  world.proxyPort = proxy.address().port;
  return world;
}

export interface DeviceRun {
  code: number | null;
  events: Array<Record<string, unknown>>;
  stderr: string;
}

/**
 * Runs furrow-device (or `binary`, e.g. furrow-device-esp: the same simulator on the real ESP-IDF port)
 * to its exit (asynchronously: the gateway runs in this process).
 */
export function runDevice(args: string[], binary = 'furrow-device'): Promise<DeviceRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin(binary), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const events = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, events, stderr: err });
    });
  });
}

/** The image the simulated bootloader would run now: the slot in otadata, as the device printed it. */
export function readSlot(flashDir: string, slot: number, size: number): Buffer {
  return readFileSync(join(flashDir, `slot${slot}.bin`)).subarray(0, size);
}

/**
 * Call once at file scope: worlds started and flash dirs made through it are stopped and removed after
 * each test, so a failing test cannot leave a CoAP service or temp files behind for the next.
 */
export function worldPerTest(): { start(opts: WorldOptions): Promise<World>; flash(): string } {
  let world: World | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await world?.stop();
    world = undefined;
    while (cleanups.length) cleanups.pop()!();
  });
  return {
    async start(opts) {
      world = await startWorld(opts);
      return world;
    },
    flash() {
      const t = tempDir('furrow-flash-');
      cleanups.push(t.cleanup);
      return join(t.dir, 'flash');
    },
  };
}
