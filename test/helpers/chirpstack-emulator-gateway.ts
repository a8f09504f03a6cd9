/**
 * The gateway half of the LoRa tests: the real CoapService (SQLite file, blob store, check-in with MAC,
 * Block2 patch resource) serving over a LoraTransport whose ChirpStack client talks MQTT to the broker
 * the emulator uses. Releases, one patch and the devices are inserted the way `furrow release add` and
 * `furrow devices add` would leave them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChirpStackClient } from '../../src/bearer/lora/chirpstack/client.ts';
import { LoraTransport } from '../../src/bearer/lora/transport.ts';
import { systemClock } from '../../src/clock.ts';
import { CoapService } from '../../src/coap/service.ts';
import { configSchema } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { EventBus } from '../../src/events.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import type { TransmitGate } from '../../src/policy.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';

export const APP_ID = '7d5b2a3c-9f1e-4c1b-8a61-2f7e0c4d9b10';
export const PORTS = { fPortBase: 20, fragFPort: 201, setupFPort: 200, repairFPort: 205 };

export interface LoraGateway {
  dir: string;
  db: Db;
  transport: LoraTransport;
  client: ChirpStackClient;
  coap: CoapService;
  events: EventBus;
  product: string;
  baseSha256: string;
  targetSha256: string;
  patchId: string;
  stop(): Promise<void>;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function startLoraGateway(opts: {
  brokerUrl: string;
  patch: Buffer;
  baseSha256: string;
  targetSha256: string;
  devices: Array<{ id: string; key: Buffer }>;
  gate?: TransmitGate;
  log?: Logger;
}): Promise<LoraGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-lora-'));
  const log = opts.log ?? silentLogger();
  const config = configSchema.parse({ data: { dir }, coap: { host: '127.0.0.1', port: 0, rateLimit: { perSecond: 5000, burst: 5000 } } });
  const db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
  const events = new EventBus(log);
  const ctx: DaemonContext = { config, configFile: join(dir, 'furrow.yaml'), log, db, blobs: new BlobStore(join(dir, 'blobs')), events, clock: systemClock };
  const product = 'wled';
  const releases = new ReleaseRepo(db);
  const now = Date.now();
  const rel = (sha256: string, version: string, addedAt: number): void =>
    releases.insert({ sha256, product, version, secureVersion: 1, size: 1_300_000, chip: 'esp32', appVersion: version, projectName: 'wled', idfVersion: 'v4.4', buildDate: null, signature: null, signer: null, addedAt });
  rel(opts.baseSha256, '0.14.3', now - 1000);
  rel(opts.targetSha256, '0.14.4', now);
  const patchId = ctx.blobs.put(opts.patch);
  if (patchId !== sha(opts.patch)) throw new Error('blob id is not the patch SHA-256');
  db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, opts.baseSha256, opts.targetSha256, opts.patch.length, now);
  const repo = new DeviceRepo(db);
  for (const d of opts.devices) repo.add({ id: d.id, product, deviceKey: d.key, runningSha256: opts.baseSha256 }, now);

  const client = new ChirpStackClient({ mqttUrl: opts.brokerUrl, applicationId: APP_ID, topicPrefix: '', log, connectTimeoutMs: 5000 });
  const transport = new LoraTransport({ name: 'lora', client, log, fPortBase: PORTS.fPortBase, defaultDr: 0 });
  const coap = new CoapService(ctx, { transports: [transport], ...(opts.gate ? { gate: opts.gate } : {}) });
  await coap.start();
  return {
    dir,
    db,
    transport,
    client,
    coap,
    events,
    product,
    baseSha256: opts.baseSha256,
    targetSha256: opts.targetSha256,
    patchId,
    async stop() {
      await coap.stop();
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
