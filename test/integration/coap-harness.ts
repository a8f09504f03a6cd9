/**
 * Builds a real CoapService (real UDP socket, real SQLite file, real blob store) in a temp dir, with
 * a device, two releases and a furrow patch between them, for the CoAP integration tests and bench.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../src/clock.ts';
import { CoapService, type CoapServiceOptions } from '../../src/coap/service.ts';
import { configSchema, type Config } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { EventBus } from '../../src/events.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { UdpTransport } from '../../src/bearer/udp.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { syntheticPatch as simSyntheticPatch } from '../../src/sim/synthetic.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();

/** The simulator's synthetic patch in four chunks, so tests cover a multi-chunk table. */
export function syntheticPatch(opts: { size: number; baseSha256: Buffer; baseSize: number; resultSha256: Buffer; resultSize: number }): Buffer {
  return simSyntheticPatch(opts.size, { sha256: opts.baseSha256, size: opts.baseSize }, { sha256: opts.resultSha256, size: opts.resultSize }, 4);
}

export interface Harness {
  dir: string;
  config: Config;
  db: Db;
  ctx: DaemonContext;
  service: CoapService;
  port: number;
  deviceId: string;
  deviceKey: Buffer;
  product: string;
  baseSha256: string;
  targetSha256: string;
  patch: Buffer;
  patchId: string;
  /** Stops the service and closes the DB (keeps the dir unless `remove`). */
  stop(remove?: boolean): Promise<void>;
  /** Stop and start again on the same port, same dir: a daemon restart. */
  restart(): Promise<void>;
}

export interface HarnessOptions {
  patchSize?: number;
  coap?: Record<string, unknown>;
  service?: Omit<CoapServiceOptions, 'transports'>;
  log?: Logger;
  clock?: Clock;
  dir?: string;
  devices?: number;
  /** A real base/target/patch triple (bench: a corpus pair) instead of the synthetic one. */
  images?: { base: Buffer; target: Buffer; patch: Buffer };
  /** The UDP bearer to serve on (a subclass with a per-peer payload limit, a tap); default: plain UdpTransport. */
  transport?: (opts: { host: string; port: number }) => UdpTransport;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'furrow-coap-'));
  const config = configSchema.parse({ data: { dir }, coap: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 5000, burst: 5000 }, ...opts.coap } });
  const log = opts.log ?? silentLogger();
  const open = () => {
    const db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
    const ctx: DaemonContext = { config, configFile: join(dir, 'furrow.yaml'), log, db, blobs: new BlobStore(join(dir, 'blobs')), events: new EventBus(log), clock: opts.clock ?? systemClock };
    return { db, ctx };
  };
  let { db, ctx } = open();
  const product = 'soil-probe';
  const deviceId = 'probe-1';
  const deviceKey = Buffer.alloc(32, 7);
  const baseImage = opts.images?.base ?? randomBytes(4096);
  const targetImage = opts.images?.target ?? randomBytes(8192);
  const baseSha256 = sha(baseImage).toString('hex');
  const targetSha256 = sha(targetImage).toString('hex');
  const devices = new DeviceRepo(db);
  let patch: Buffer;
  let patchId: string;
  const existing = db.prepare('SELECT id FROM patches LIMIT 1').get() as { id: string } | undefined;
  if (existing) {
    patchId = existing.id;
    patch = ctx.blobs.get(patchId);
  } else {
    const releases = new ReleaseRepo(db);
    const now = Date.now();
    const rel = (sha256: string, version: string, size: number, addedAt: number) =>
      releases.insert({ sha256, product, version, secureVersion: 1, size, chip: 'esp32', appVersion: version, projectName: 'probe', idfVersion: 'v5.1', buildDate: null, signature: null, signer: null, addedAt });
    rel(baseSha256, '1.0.0', baseImage.length, now - 1000);
    rel(targetSha256, '1.1.0', targetImage.length, now);
    patch = opts.images?.patch ?? syntheticPatch({ size: opts.patchSize ?? 40_000, baseSha256: sha(baseImage), baseSize: baseImage.length, resultSha256: sha(targetImage), resultSize: targetImage.length });
    patchId = ctx.blobs.put(patch);
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, baseSha256, targetSha256, patch.length, now);
    db.transaction(() => {
      for (let i = 0; i < (opts.devices ?? 1); i++) {
        devices.add({ id: i === 0 ? deviceId : `probe-${i + 1}`, product, deviceKey, runningSha256: baseSha256 }, now);
      }
    })();
  }
  const releaseRows = new ReleaseRepo(db).list({ product });
  const h: Harness = {
    dir,
    config,
    db,
    ctx,
    service: undefined as unknown as CoapService,
    port: 0,
    deviceId,
    deviceKey,
    product,
    baseSha256: releaseRows[0]!.sha256,
    targetSha256: releaseRows[1]!.sha256,
    patch,
    patchId,
    async stop(remove = false) {
      await h.service.stop();
      if (db.open) db.close();
      if (remove) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      const port = h.port;
      await h.service.stop();
      db.close();
      ({ db, ctx } = open());
      h.db = db;
      h.ctx = ctx;
      await launch(port);
    },
  };
  const launch = async (port: number) => {
    const transport = opts.transport ? opts.transport({ host: '127.0.0.1', port }) : new UdpTransport({ host: '127.0.0.1', port });
    h.service = new CoapService(ctx, { ...opts.service, transports: [transport] });
    await h.service.start();
    h.port = transport.port;
  };
  await launch(0);
  return h;
}
