/**
 * Anjay 3.9.0's demo client (AVSystem's, built from ../shared/interop) against the real daemon with an
 * `lwm2m:` section: it registers, shows in `devices list` as protocol lwm2m, and a rollout updates it
 * through Object 5 pull: Package URI written, Block2 download byte-exact with the corpus image (the file
 * the demo writes), Downloaded, Execute, Update Result 1, rollout completed.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFurrowInProcess as furrow } from '../helpers/cli.ts';
import { CORPUS_IMAGES } from '../helpers/corpus.ts';
import { freeTcpPort, type DaemonProcess } from '../helpers/daemon.ts';
import type { ClientProcess } from '../helpers/lwm2m-clients.ts';
import { checkDownload, keepDownload, setupAnjayRollout } from '../helpers/lwm2m-daemon.ts';
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
    const ok = (r: { code: number; stdout: string; stderr: string }) => expect(r.code, r.stderr + r.stdout).toBe(0);
    const image = CORPUS_IMAGES[1]!; // WLED 0.14.4
    const metricsPort = await freeTcpPort();
    const s = await setupAnjayRollout(tmp.dir, image, { metricsPort });
    daemon = await s.startDaemon();
    anjay = await s.startClient(s.port);
    await daemon.waitForMsg('LwM2M client registered');
    const ident = await daemon.waitForMsg('LwM2M client identified');
    expect(ident).toMatchObject({ endpoint: 'anjay-1', version: '3.9.0', known: false });

    const list = await furrow(['-c', s.config, 'devices', 'list', '--json']);
    ok(list);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id: 'anjay-1', product: 'wled', protocol: 'lwm2m', runningVersion: '3.9.0' })]);

    const plan = await s.applyRollout();
    expect(plan).toMatch(/3\.9\.0 \(LwM2M Object 5\)\s+\S+\s+1 device\s+full image/);
    await daemon.waitForMsg('LwM2M Package URI written', 30_000);
    const kept = await keepDownload(s.pkgPath, join(tmp.dir, 'downloaded.bin'), anjay);
    await daemon.waitForMsg('LwM2M firmware Update executed', 120_000);
    await anjay.waitFor(/firmware downloaded successfully/, 5_000);
    const done = await daemon.waitForMsg(/^LwM2M firmware update (succeeded|failed)$/, 30_000);
    expect(done, anjay.output.slice(-2000)).toMatchObject({ msg: 'LwM2M firmware update succeeded', endpoint: 'anjay-1' });
    checkDownload(kept, image);

    const show = await furrow(['-c', s.config, 'rollout', 'status']);
    ok(show);
    expect(show.stdout).toMatch(/completed .* 1\/1 ok 0 failed/);
    const dev = await furrow(['-c', s.config, 'devices', 'show', 'anjay-1', '--json']);
    ok(dev);
    expect(JSON.parse(dev.stdout)).toMatchObject({ id: 'anjay-1', protocol: 'lwm2m', runningVersion: image.version, runningSha256: image.sha256, lastResult: 'ok' });
    const clients = await furrow(['-c', s.config, 'lwm2m', 'clients', '--json']);
    ok(clients);
    expect(JSON.parse(clients.stdout)).toEqual([expect.objectContaining({ endpoint: 'anjay-1', version: '1.1', binding: 'U', firmware: expect.objectContaining({ phase: 'succeeded', fwResult: 1, releaseSha256: image.sha256 }) })]);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^furrow_lwm2m_registrations_total\{kind="registered"\} 1$/m);
    expect(metrics).toMatch(/^furrow_lwm2m_firmware_total\{phase="succeeded"\} 1$/m);
    expect(metrics).toMatch(/^furrow_lwm2m_clients 1$/m);
    const unknown = await furrow(['-c', s.config, 'lwm2m', 'show', 'nobody']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no LwM2M client "nobody"/);
  }, 240_000);
});
