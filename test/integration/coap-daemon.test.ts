import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runFurrowInProcess as runFurrow } from '../helpers/cli.ts';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestDevice } from './coap-device.ts';

describe('provisioning with the CLI and checking in to the real daemon', () => {
  const tmp = tempDir();
  let daemon: DaemonProcess | undefined;
  afterEach(async () => {
    await daemon?.stop();
    tmp.cleanup();
  });

  it('adds a device, prints its key once, and the daemon accepts that key and shows the check-in', async () => {
    const port = await freeUdpPort();
    const file = join(tmp.dir, 'furrow.yaml');
    writeFileSync(file, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\ncoap: { host: 127.0.0.1, port: ${port} }\nmetrics: { port: 0 }\n`);

    const gw = await runFurrow(['-c', file, 'keys', 'gateway', '--json']);
    expect(gw.code, gw.stderr).toBe(0);
    const key = JSON.parse(gw.stdout) as { kid: string; point: string; created: boolean };
    expect(key.created).toBe(true);
    expect(key.point).toMatch(/^04[0-9a-f]{128}$/);

    const add = await runFurrow(['-c', file, 'devices', 'add', 'probe-9', '--product', 'soil-probe', '--label', 'field=north']);
    expect(add.code, add.stderr).toBe(0);
    const hex = /^([0-9a-f]{64})$/m.exec(add.stdout)?.[1];
    expect(hex).toBeDefined();
    const dup = await runFurrow(['-c', file, 'devices', 'add', 'probe-9', '--product', 'soil-probe']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/device probe-9 already exists/);
    expect(dup.stdout).not.toMatch(/[0-9a-f]{64}/);

    daemon = DaemonProcess.start(['-c', file, 'start']);
    await daemon.waitForMsg('CoAP listening');
    // The daemon reuses the key the CLI created: devices provisioned before the first start stay valid.
    expect(daemon.lines.some((l) => l.msg.startsWith('generated gateway signing key'))).toBe(false);

    const running = createHash('sha256').update('factory image').digest('hex');
    const dev = new TestDevice({ port, id: 'probe-9', key: Buffer.from(hex!, 'hex'), ackTimeoutMs: 200 });
    await dev.open();
    const { reply, map } = await dev.checkin(running, 'soil-probe', [[5, -101], [9, '1.0.0']]);
    dev.close();
    expect(reply.code).toBe('2.05');
    expect(map.get(1)).toBe(0); // no release for this product yet: nothing to do

    const show = await runFurrow(['-c', file, 'devices', 'show', 'probe-9', '--json']);
    expect(show.code, show.stderr).toBe(0);
    const d = JSON.parse(show.stdout) as Record<string, unknown>;
    expect(d).toMatchObject({ id: 'probe-9', product: 'soil-probe', labels: { field: 'north' }, runningSha256: running, runningVersion: '1.0.0', rsrp: -101, bearer: 'udp' });
    const list = await runFurrow(['-c', file, 'devices', 'list']);
    expect(list.stdout).toMatch(/probe-9\s+soil-probe\s+furrow\s+1\.0\.0/);
  });
});
