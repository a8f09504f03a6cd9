/**
 * /metrics of the real daemon (`node bin/furrow.js start`, a child process) during a real CoAP download:
 * a device in a rollout checks in (authenticated, as firmware does) and libcoap's coap-client-notls
 * (Debian libcoap3-bin) fetches its patch block by block while the test scrapes the daemon over HTTP.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { loadRolloutFile } from '../../src/rollout/index.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../src/rollout/plan.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort } from '../helpers/daemon.ts';
import { TestDevice } from './coap-device.ts';
import { syntheticPatch } from './coap-harness.ts';
import { samples } from './metrics-text.ts';

const exec = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

describe('the daemon\'s /metrics during a real CoAP download', () => {
  let dir: string;
  let daemon: DaemonProcess | undefined;
  let metrics: string;
  let coapPort: number;
  let patch: Buffer;
  const deviceKey = Buffer.alloc(32, 9);
  const base = randomBytes(4096);
  const target = randomBytes(8192);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    coapPort = await freeUdpPort();
    const metricsPort = await freeTcpPort();
    metrics = `http://127.0.0.1:${metricsPort}/metrics`;
    const configFile = join(dir, 'furrow.yaml');
    const yaml = [
      'gateway: { id: gw-metrics }',
      `data: { dir: ${join(dir, 'data')} }`,
      'releases: { allowUnsigned: true }',
      `coap: { host: 127.0.0.1, port: ${coapPort}, rateLimit: { perSecond: 100000, burst: 100000 } }`,
      `rollouts: { dir: ${join(dir, 'rollouts')} }`,
      `metrics: { host: 127.0.0.1, port: ${metricsPort} }`,
      '',
    ].join('\n');
    writeFileSync(configFile, yaml);
    const config = parseConfigText(yaml, configFile);

    // The store as an operator leaves it: two releases, a patch between them, a device, a rollout.
    const db = openDatabase(join(dir, 'data', 'furrow.db'));
    const blobs = new BlobStore(join(dir, 'data', 'blobs'));
    const now = Date.now();
    const releases = new ReleaseRepo(db);
    for (const [img, version, at] of [[base, '1.0.0', now - 1000], [target, '1.1.0', now]] as const) {
      releases.insert({ sha256: sha(img).toString('hex'), product: 'soil-probe', version, secureVersion: 1, size: img.length, chip: 'esp32', appVersion: version, projectName: 'probe', idfVersion: 'v5.1', buildDate: null, signature: null, signer: null, addedAt: at });
    }
    patch = syntheticPatch({ size: 30_011, baseSha256: sha(base), baseSize: base.length, resultSha256: sha(target), resultSize: target.length });
    const patchId = blobs.put(patch);
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(
      patchId, sha(base).toString('hex'), sha(target).toString('hex'), patch.length, now,
    );
    new DeviceRepo(db).add({ id: 'probe-1', product: 'soil-probe', deviceKey, runningSha256: sha(base).toString('hex') }, now);
    const rolloutFile = join(dir, 'spring.yaml');
    writeFileSync(rolloutFile, 'release: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n');
    const spec = loadRolloutFile(rolloutFile);
    applyPlan(db, planRollout(spec, { file: rolloutFile, text: readFileSync(rolloutFile, 'utf8') }, db, { schedule: config.schedule, patches: patchesTableLookup(db), now }), rolloutFile, now);
    db.close();

    daemon = DaemonProcess.start(['--config', configFile, 'start']);
    await daemon.waitForMsg('furrow started');
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the transfer active while bytes flow, then completed with the bytes counted', async () => {
    const scrape = async () => (await fetch(metrics)).text();
    const total = (text: string, name: string) => [...samples(text, name).values()].reduce((a, b) => a + b, 0);
    const before = await scrape();
    expect(total(before, 'furrow_transfers_completed_total')).toBe(0);
    expect(samples(before, 'furrow_devices').get('')).toBe(1);
    expect(samples(before, 'furrow_rollouts').get('{state="running"}')).toBe(1);

    const dev = new TestDevice({ port: coapPort, id: 'probe-1', key: deviceKey });
    await dev.open();
    const { reply, map } = await dev.checkin(sha(base).toString('hex'), 'soil-probe');
    dev.close();
    expect(reply.code).toBe('2.05');
    const patchPath = map.get(4) as string;
    expect(typeof patchPath).toBe('string');

    const out = join(dir, 'patch.bin');
    let done = false;
    const download = exec('coap-client-notls', ['-B', '30', '-m', 'get', '-b', '64', '-o', out, `coap://127.0.0.1:${coapPort}/${patchPath}`], { timeout: 30_000 })
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new Error('coap-client-notls not found: install Debian package libcoap3-bin');
        throw err;
      })
      .finally(() => (done = true));
    let sawActive = 0;
    while (!done) {
      sawActive = Math.max(sawActive, samples(await scrape(), 'furrow_transfers').get('{state="active"}') ?? 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await download;
    expect(readFileSync(out).equals(patch)).toBe(true);
    expect(sawActive).toBe(1);

    let after = '';
    const deadline = Date.now() + 15_000;
    do {
      after = await scrape();
      if (total(after, 'furrow_transfers_completed_total') === 1 && total(after, 'furrow_bytes_served_total') >= patch.length) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(total(after, 'furrow_transfers_completed_total')).toBe(1);
    expect(total(after, 'furrow_bytes_served_total')).toBeGreaterThanOrEqual(patch.length);
    expect(samples(after, 'furrow_transfers').get('{state="completed"}')).toBe(1);
    expect(samples(after, 'furrow_transfers').get('{state="active"}')).toBe(0);
  });
});
