/**
 * Anjay 3.9.0's demo client (AVSystem's, built from ../shared/interop) against the real daemon with an
 * `lwm2m:` section: it registers, shows in `devices list` as protocol lwm2m, and a rollout updates it
 * through Object 5 pull: Package URI written, Block2 download byte-exact with the corpus image (the file
 * the demo keeps), Downloaded, Execute, Update Result 1, rollout member succeeded.
 */
import { copyFileSync, existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFurrowInProcess as furrow } from '../helpers/cli.ts';
import { CORPUS_IMAGES, corpusPath, readCorpus } from '../helpers/corpus.ts';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { startAnjay, type ClientProcess } from '../helpers/lwm2m-clients.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('Anjay demo client against the daemon', () => {
  const tmp = tempDir('furrow-anjay-');
  let daemon: DaemonProcess | undefined;
  let anjay: ClientProcess | undefined;
  afterAll(async () => {
    await anjay?.stop();
    await daemon?.stop(5_000);
    tmp.cleanup();
  });

  it('registers, is listed as an lwm2m device and is updated by a rollout to the corpus image byte-exact', async () => {
    const dir = tmp.dir;
    const ok = (r: { code: number; stdout: string; stderr: string }) => expect(r.code, r.stderr + r.stdout).toBe(0);
    const image = CORPUS_IMAGES[1]!; // WLED 0.14.4
    const port = await freeUdpPort();
    const config = join(dir, 'furrow.yaml');
    writeFileSync(
      config,
      [
        `data: { dir: ${JSON.stringify(join(dir, 'data'))} }`,
        `coap: { host: 127.0.0.1, port: ${port} }`,
        'metrics: { port: 0 }',
        'releases: { allowUnsigned: true }',
        'lwm2m:',
        '  offerIntervalSeconds: 1',
        '  package: anjay-demo',
        '  endpoints:',
        '    anjay-1: { product: wled, labels: { field: north } }',
      ].join('\n') + '\n',
    );
    const bin = join(dir, 'wled.bin');
    copyFileSync(corpusPath(image.file), bin);
    ok(await furrow(['-c', config, 'release', 'add', bin, '--product', 'wled', '--version', image.version]));

    daemon = DaemonProcess.start(['-c', config, 'start']);
    await daemon.waitForMsg('LwM2M server ready on /rd', 30_000);
    const pkgPath = join(dir, 'anjay-package.bin');
    anjay = await startAnjay({ endpoint: 'anjay-1', port, lifetime: 60, markerPath: join(dir, 'anjay-fw-updated') });
    anjay.send(`set-fw-package-path ${pkgPath}`);
    await daemon.waitForMsg('LwM2M client registered');
    const ident = await daemon.waitForMsg('LwM2M client identified');
    expect(ident).toMatchObject({ endpoint: 'anjay-1', version: '3.9.0', known: false });

    const list = await furrow(['-c', config, 'devices', 'list', '--json']);
    ok(list);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id: 'anjay-1', product: 'wled', protocol: 'lwm2m', runningVersion: '3.9.0' })]);

    const spec = join(dir, 'rollout.yaml');
    writeFileSync(spec, `release: { product: wled, version: ${image.version} }\nselect: { devices: [anjay-1] }\nwaves:\n  - { size: rest }\n`);
    ok(await furrow(['-c', config, 'rollout', 'apply', '--yes', spec]));

    await daemon.waitForMsg('LwM2M Package URI written', 30_000);
    // The demo writes the download to pkgPath, then replaces that file with the image minus its header and
    // deletes it once the update is done. A hard link taken while it downloads keeps the file it wrote.
    const kept = join(dir, 'downloaded.bin');
    for (let i = 0; !existsSync(kept); i++) {
      if (existsSync(pkgPath)) linkSync(pkgPath, kept);
      else if (i > 6000) throw new Error(`the demo never created ${pkgPath}:\n${anjay.output.slice(-1500)}`);
      else await sleep(5);
    }
    await daemon.waitForMsg('LwM2M firmware Update executed', 120_000);
    await anjay.waitFor(/firmware downloaded successfully/, 5_000);
    const done = await daemon.waitForMsg(/^LwM2M firmware update (succeeded|failed)$/, 30_000);
    expect(done, anjay.output.slice(-2000)).toMatchObject({ msg: 'LwM2M firmware update succeeded', endpoint: 'anjay-1' });
    // What came over Block2: the demo's 16-byte header, then the corpus image byte for byte.
    const got = readFileSync(kept);
    const want = readCorpus(image.file);
    expect(got.length).toBe(want.length + 16);
    expect(got.subarray(0, 8).toString('latin1')).toBe('ANJAY_FW');
    expect(got.readUInt32BE(12)).toBe(crc32(want) >>> 0);
    expect(Buffer.compare(got.subarray(16), want)).toBe(0);

    const show = await furrow(['-c', config, 'rollout', 'status']);
    ok(show);
    console.log(show.stdout);
    expect(show.stdout).toMatch(/completed/);
    const dev = await furrow(['-c', config, 'devices', 'show', 'anjay-1', '--json']);
    ok(dev);
    expect(JSON.parse(dev.stdout)).toMatchObject({ id: 'anjay-1', protocol: 'lwm2m', runningVersion: image.version, runningSha256: image.sha256, lastResult: 'ok' });
  }, 240_000);
});
