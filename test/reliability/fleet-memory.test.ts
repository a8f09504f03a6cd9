/**
 * Memory of the real daemon process with 10,000 registered devices in a rollout and 1,000 transfers
 * running at once, from a fleet of TypeScript devices (one UDP socket each). The RSS of the daemon
 * (/proc/<pid>/status VmRSS sampled, VmHWM at the end) must stay under RSS_CEILING_MB: the share of a
 * 1 GB Raspberry Pi furrow may take next to the OS, mosquitto and the modem/LoRa stack.
 *
 * CI: 10,000 registered, 250 concurrent (the CPU budget of a shared CI box); FURROW_TORTURE_LONG=1 (npm run
 * torture): 1,000 concurrent. FURROW_MEMORY_DEVICES / FURROW_MEMORY_TRANSFERS override either.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { loadRolloutFile } from '../../src/rollout/index.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../src/rollout/plan.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestDevice } from '../integration/coap-device.ts';
import { syntheticPatch } from '../integration/coap-harness.ts';
import { iterations } from './settings.ts';

const REGISTERED = iterations('FURROW_MEMORY_DEVICES', 10_000, 10_000);
const CONCURRENT = iterations('FURROW_MEMORY_TRANSFERS', 250, 1_000);
/** The daemon's budget on a 1 GB Pi (see SECURITY.md / the closing note). */
const RSS_CEILING_MB = 256;
const PATCH_BYTES = 96 * 1024;
const SZX = 6;

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
const keyOf = (id: string) => createHash('sha256').update(`furrow-memory-test/${id}`).digest();

function rssKb(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

describe('daemon memory at fleet scale', () => {
  const tmp = tempDir('furrow-memory-');
  let daemon: DaemonProcess | undefined;
  afterAll(async () => {
    await daemon?.stop();
    tmp.cleanup();
  });

  it(`keeps the daemon under ${RSS_CEILING_MB} MB RSS with ${REGISTERED} registered devices and ${CONCURRENT} concurrent transfers`, async () => {
    const dataDir = join(tmp.dir, 'data');
    const rolloutDir = join(tmp.dir, 'rollouts');
    mkdirSync(rolloutDir, { recursive: true });
    const port = await freeUdpPort();
    const configFile = join(tmp.dir, 'furrow.yaml');
    const yaml = `gateway: { id: memory-gw }\ndata: { dir: ${dataDir} }\nlog: { level: info }\nreleases: { allowUnsigned: true }\ncoap: { host: 127.0.0.1, port: ${port}, rateLimit: { perSecond: 1000, burst: 1000 } }\nrollouts: { dir: ${rolloutDir} }\nmetrics: { host: 127.0.0.1, port: ${await freeTcpPort()} }\n`;
    writeFileSync(configFile, yaml);
    const config = parseConfigText(yaml, configFile);

    const db = openDatabase(join(dataDir, 'furrow.db'));
    const blobs = new BlobStore(join(dataDir, 'blobs'));
    const now = Date.now();
    const baseImg = randomBytes(64 * 1024);
    const targetImg = randomBytes(80 * 1024);
    const releases = new ReleaseRepo(db);
    for (const [img, version, at] of [[baseImg, '1.0.0', now - 1000], [targetImg, '1.1.0', now]] as const) {
      blobs.put(img);
      releases.insert({ sha256: sha(img).toString('hex'), product: 'probe', version, secureVersion: 1, size: img.length, chip: 'esp32', appVersion: version, projectName: 'probe', idfVersion: 'v5', buildDate: null, signature: null, signer: null, addedAt: at });
    }
    const patch = syntheticPatch({ size: PATCH_BYTES, baseSha256: sha(baseImg), baseSize: baseImg.length, resultSha256: sha(targetImg), resultSize: targetImg.length });
    const patchId = blobs.put(patch);
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', ?, 1, ?)").run(patchId, sha(baseImg).toString('hex'), sha(targetImg).toString('hex'), patch.length, now);
    const devices = new DeviceRepo(db);
    const ids = Array.from({ length: REGISTERED }, (_, i) => `probe-${String(i).padStart(5, '0')}`);
    db.transaction(() => {
      for (const id of ids) devices.add({ id, product: 'probe', deviceKey: keyOf(id), runningSha256: sha(baseImg).toString('hex'), labels: { farm: `farm-${id.length % 7}` } }, now);
    })();
    const rolloutFile = join(rolloutDir, 'all.yaml');
    const ryaml = 'release: { product: probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n';
    writeFileSync(rolloutFile, ryaml);
    applyPlan(db, planRollout(loadRolloutFile(rolloutFile), { file: rolloutFile, text: ryaml }, db, { schedule: config.schedule, patches: patchesTableLookup(db), now }), rolloutFile, now);
    db.close();

    daemon = DaemonProcess.start(['--config', configFile, 'start']);
    await daemon.waitFor((l) => l.msg === 'furrow started' || l.level >= 50, 60_000);
    const pid = daemon.proc.pid!;
    const idle = rssKb(pid);
    let peak = idle.rss;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssKb(pid).rss);
      } catch {
        /* process gone: the test fails below */
      }
    }, 100);

    // 1,000 devices check in, get the offer, then all download at once in small steps: every transfer
    // stays open until all have started, so the daemon holds 1,000 live transfers.
    const fleet = ids.slice(0, CONCURRENT).map((id) => new TestDevice({ port, id, key: keyOf(id), ackTimeoutMs: 1000, maxRetransmit: 6 }));
    await Promise.all(fleet.map((d) => d.open()));
    const uris: string[] = [];
    await Promise.all(
      fleet.map(async (d, i) => {
        await new Promise((r) => setTimeout(r, i % 200));
        const { map } = await d.checkin(sha(baseImg).toString('hex'), 'probe');
        expect(map.get(1)).toBe(2);
        uris[i] = String(map.get(4));
      }),
    );
    let started = 0;
    let allStarted!: () => void;
    const allStartedP = new Promise<void>((r) => (allStarted = r));
    const totalBlocks = Math.ceil(patch.length / (1 << (SZX + 4)));
    const got = await Promise.all(
      fleet.map(async (d, i) => {
        const first = await d.download(uris[i]!, { szx: SZX, stopAfterBlocks: 2 });
        if (++started === fleet.length) allStarted();
        await allStartedP;
        const rest = await d.download(uris[i]!, { szx: SZX, offset: first.offset });
        return Buffer.concat([first.data, rest.data]);
      }),
    );
    const during = { rss: peak };
    clearInterval(sampler);
    const after = rssKb(pid);
    fleet.forEach((d) => d.close());
    expect(got.every((b) => b.equals(patch))).toBe(true);
    await daemon.stop();
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    console.log(
      `daemon RSS (pid ${pid}, node ${process.version}): idle with ${REGISTERED} registered devices ${mb(idle.rss)} MB; ` +
        `peak sampled during ${CONCURRENT} concurrent transfers (${totalBlocks} blocks of ${1 << (SZX + 4)} B each) ${mb(during.rss)} MB; ` +
        `VmHWM ${mb(after.hwm)} MB; ceiling ${RSS_CEILING_MB} MB`,
    );
    expect(after.hwm / 1024).toBeLessThan(RSS_CEILING_MB);
  }, 300_000);
});
