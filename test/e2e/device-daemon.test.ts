/**
 * The whole product, as an operator runs it: keys, signed releases and a device provisioned with the
 * `furrow` CLI, a rollout applied, the real daemon as a child process (delta module building the patch
 * on demand, rollout engine, scheduler, CoAP), and the C furrow-device updating from it.
 * The CLI runs in-process (runCli) because each spawned `furrow` costs seconds on a loaded 2-core box.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFurrowInProcess as furrow } from '../helpers/cli.ts';
import { CORPUS_PAIRS, corpusPath, readCorpus } from '../helpers/corpus.ts';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildFirmware } from '../unit/firmware/fw.ts';
import { readSlot, runDevice } from './device-harness.ts';

describe('furrow-device against the real daemon, provisioned with the CLI', () => {
  const tmp = tempDir('furrow-e2e-daemon-');
  let daemon: DaemonProcess | undefined;
  afterAll(async () => {
    if (daemon) {
      const t = Date.now();
      const r = await daemon.stop(3_000);
      console.log(`daemon stop: ${JSON.stringify(r)} after ${Date.now() - t} ms; last lines: ${daemon.lines.slice(-4).map((l) => l.msg).join(' | ')}`);
    }
    tmp.cleanup();
  });

  it('updates a device from WLED 0.14.3 to 0.14.4 through a rollout and reports back', async () => {
    buildFirmware();
    const pair = CORPUS_PAIRS[0]!;
    const dir = tmp.dir;
    const ok = (r: { code: number; stderr: string }) => expect(r.code, r.stderr).toBe(0);
    ok(await furrow(['keys', 'generate', join(dir, 'vendor')]));
    const port = await freeUdpPort();
    const config = join(dir, 'furrow.yaml');
    writeFileSync(
      config,
      [
        `data: { dir: ${JSON.stringify(join(dir, 'data'))} }`,
        `coap: { host: 127.0.0.1, port: ${port}, buildRetrySeconds: 1 }`,
        'metrics: { port: 0 }',
        `releases: { trustedKeys: [${JSON.stringify(join(dir, 'vendor.pub.pem'))}] }`,
      ].join('\n') + '\n',
    );
    for (const [file, version] of [[pair.from, '0.14.3'], [pair.to, '0.14.4']] as const) {
      const image = join(dir, `${version}.bin`);
      copyFileSync(corpusPath(file), image);
      ok(await furrow(['release', 'sign', image, '--product', 'farm-sensor', '--version', version, '--key', join(dir, 'vendor.pem'), '--secure-version', '1']));
      ok(await furrow(['-c', config, 'release', 'add', image, '--product', 'farm-sensor', '--version', version, '--sig', `${image}.sig`]));
    }
    const added = await furrow(['-c', config, 'devices', 'add', 'sensor-7', '--product', 'farm-sensor']);
    ok(added);
    writeFileSync(join(dir, 'device.key'), /^([0-9a-f]{64})$/m.exec(added.stdout)![1]!);
    const gw = await furrow(['-c', config, 'keys', 'gateway', '--pem']);
    ok(gw);
    writeFileSync(join(dir, 'gateway.pub'), gw.stdout);
    const spec = join(dir, 'rollout.yaml');
    writeFileSync(spec, 'release: { product: farm-sensor, version: 0.14.4 }\nselect: { devices: [sensor-7] }\nwaves:\n  - { size: rest }\n');
    ok(await furrow(['-c', config, 'rollout', 'apply', '--yes', spec]));

    daemon = DaemonProcess.start(['-c', config, 'start']);
    await daemon.waitForMsg('CoAP listening', 30_000);
    const flash = join(dir, 'flash');
    const r = await runDevice([
      '--server', `127.0.0.1:${port}`, '--device-id', 'sensor-7', '--key-file', join(dir, 'device.key'), '--product', 'farm-sensor',
      '--flash', flash, '--image', join(dir, '0.14.3.bin'), '--version', '0.14.3', '--secure-version', '1',
      '--gateway-pub', join(dir, 'gateway.pub'), '--release-pub', join(dir, 'vendor.pub.pem'),
      '--ack-timeout-ms', '500', '--max-sleep', '1', '--max-wakes', '40',
    ]);
    expect(r.code, `${r.stderr}\n${JSON.stringify(r.events.slice(-6))}\n${daemon.stderr.join('')}`).toBe(0);
    expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
    console.log(`device: ${r.events.filter((e) => e.event === 'sleep').length} sleeps before/while the patch was built; events ${[...new Set(r.events.map((e) => e.event))].join(',')}`);
    const want = readCorpus(pair.to);
    expect(Buffer.compare(readSlot(flash, 1, want.length), want)).toBe(0);
    await daemon.waitFor((l) => l.msg === 'device report' && l.status === 'booted', 10_000);
    const show = await furrow(['-c', config, 'devices', 'show', 'sensor-7', '--json']);
    ok(show);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: 'sensor-7', runningVersion: '0.14.4', lastResult: 'ok' });
  }, 120_000);
});
