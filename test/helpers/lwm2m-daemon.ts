/**
 * The daemon with an `lwm2m:` section, a corpus release and one Anjay demo client, as the Object 5 interop
 * tests set them up; and the hard-link trick that keeps the file the demo downloads into (it replaces it
 * with the unpacked image and deletes it when the update is done).
 */
import { copyFileSync, existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { runFurrowInProcess as furrow } from './cli.ts';
import { corpusPath, readCorpus, type CorpusImage } from './corpus.ts';
import { DaemonProcess, freeUdpPort } from './daemon.ts';
import { startAnjay, type ClientProcess } from './lwm2m-clients.ts';

export interface AnjaySetup {
  config: string;
  port: number;
  pkgPath: string;
  startDaemon(): Promise<DaemonProcess>;
  startClient(serverPort: number, extra?: string[]): Promise<ClientProcess>;
  /** Applies the rollout; resolves with the plan the CLI printed. */
  applyRollout(extra?: string): Promise<string>;
}

async function ok(p: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`furrow CLI failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function setupAnjayRollout(dir: string, image: CorpusImage, opts: { packageUri?: (port: number) => string; metricsPort?: number; coap?: string; package?: 'image' | 'anjay-demo' } = {}): Promise<AnjaySetup> {
  const port = await freeUdpPort();
  const config = join(dir, 'furrow.yaml');
  writeFileSync(
    config,
    [
      `data: { dir: ${JSON.stringify(join(dir, 'data'))} }`,
      `coap: { host: 127.0.0.1, port: ${port}${opts.coap ? `, ${opts.coap}` : ''} }`,
      `metrics: { port: ${opts.metricsPort ?? 0} }`,
      'releases: { allowUnsigned: true }',
      'lwm2m:',
      '  offerIntervalSeconds: 1',
      `  package: ${opts.package ?? 'anjay-demo'}`,
      ...(opts.packageUri ? [`  packageUri: ${JSON.stringify(opts.packageUri(port))}`] : []),
      '  endpoints:',
      '    anjay-1: { product: wled, labels: { field: north } }',
    ].join('\n') + '\n',
  );
  const bin = join(dir, 'wled.bin');
  copyFileSync(corpusPath(image.file), bin);
  await ok(furrow(['-c', config, 'release', 'add', bin, '--product', 'wled', '--version', image.version]));
  const pkgPath = join(dir, 'anjay-package.bin');
  return {
    config,
    port,
    pkgPath,
    async startDaemon() {
      const d = DaemonProcess.start(['-c', config, 'start']);
      await d.waitForMsg('LwM2M server ready on /rd', 30_000);
      return d;
    },
    async startClient(serverPort, extra = []) {
      const c = await startAnjay({ endpoint: 'anjay-1', port: serverPort, lifetime: 60, markerPath: join(dir, 'anjay-fw-updated'), extra });
      c.send(`set-fw-package-path ${pkgPath}`);
      return c;
    },
    async applyRollout(extra = '') {
      const spec = join(dir, 'rollout.yaml');
      writeFileSync(spec, `release: { product: wled, version: ${image.version} }\nselect: { devices: [anjay-1] }\nwaves:\n  - { size: rest }\n${extra}`);
      const plan = await ok(furrow(['-c', config, 'rollout', 'plan', spec]));
      await ok(furrow(['-c', config, 'rollout', 'apply', '--yes', spec]));
      return plan;
    },
  };
}

/** Hard-links the demo's download file as soon as it exists; resolves with the link's path. */
export async function keepDownload(pkgPath: string, kept: string, client: ClientProcess, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(kept)) {
    if (existsSync(pkgPath)) linkSync(pkgPath, kept);
    else if (Date.now() > end) throw new Error(`the demo never created ${pkgPath}:\n${client.output.slice(-1500)}`);
    else await sleep(5);
  }
  return kept;
}

/** The downloaded file is the demo's 16-byte header (magic, version 1, CRC-32 of the image) then the image. */
export function checkDownload(kept: string, image: CorpusImage): void {
  const got = readFileSync(kept);
  const want = readCorpus(image.file);
  if (got.length !== want.length + 16) throw new Error(`downloaded ${got.length} bytes, want ${want.length + 16}`);
  if (got.subarray(0, 8).toString('latin1') !== 'ANJAY_FW' || got.readUInt16BE(8) !== 1) throw new Error('downloaded file does not start with the ANJAY_FW v1 header');
  if (got.readUInt32BE(12) !== crc32(want) >>> 0) throw new Error('header CRC differs from the image CRC-32');
  if (Buffer.compare(got.subarray(16), want) !== 0) throw new Error('downloaded image differs from the corpus image');
}
