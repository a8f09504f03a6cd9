/**
 * MQTT commands against the real daemon (a child process) steering a real rollout made with
 * `furrow rollout apply`: bad commands get error replies and change nothing; pause acts, and the rollout
 * engine's state change comes back over MQTT (retained).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort, runFurrow } from '../helpers/daemon.ts';
import { consumer, Mosquitto, waitFor } from './mqtt-broker.ts';

describe('MQTT commands to the running daemon', () => {
  let dir: string;
  let broker: Mosquitto;
  let daemon: DaemonProcess | undefined;
  let config: string;
  const db = () => openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
  const rolloutState = () => {
    const d = db();
    try {
      return (d.prepare("SELECT state FROM rollouts WHERE id = 'spring'").get() as { state: string }).state;
    } finally {
      d.close();
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    broker = await Mosquitto.start(dir, { persistent: false });
    config = join(dir, 'furrow.yaml');
    writeFileSync(
      config,
      [
        'gateway: { id: gw-cmd }',
        `data: { dir: ${join(dir, 'data')} }`,
        'releases: { allowUnsigned: true }',
        `coap: { host: 127.0.0.1, port: ${await freeUdpPort()} }`,
        `metrics: { port: ${await freeTcpPort()} }`,
        `mqtt: { url: "${broker.url}", reconnectSeconds: 0.2 }`,
        '',
      ].join('\n'),
    );
    const d = db();
    const releases = new ReleaseRepo(d);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    for (const [v, at] of [['1.0.0', 1], ['1.1.0', 2]] as const) {
      releases.insert({ sha256: sha(v), product: 'soil-probe', version: v, secureVersion: 0, size: 4096, chip: 'esp32', appVersion: v, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: at });
    }
    new DeviceRepo(d).add({ id: 'probe-1', product: 'soil-probe', runningSha256: sha('1.0.0') }, Date.now());
    d.close();
    const spec = join(dir, 'spring.yaml');
    writeFileSync(spec, 'release: { product: soil-probe, version: 1.1.0 }\nselect: { devices: [probe-1] }\nwaves:\n  - { size: rest }\n');
    const applied = await runFurrow(['--config', config, 'rollout', 'apply', '--yes', spec]);
    expect(applied.code, applied.stderr).toBe(0);
    daemon = DaemonProcess.start(['--config', config, 'start']);
    await daemon.waitForMsg('furrow started');
  });

  afterAll(async () => {
    await daemon?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad commands without acting, then pauses the rollout on a good one', async () => {
    const ops = await consumer(broker.url, 'furrow/gw-cmd/#', { clean: true, properties: {} });
    await waitFor('the gateway online', () => ops.messages.some((m) => m.topic === 'furrow/gw-cmd/status' && m.body.state === 'online'));
    await waitFor('the daemon subscribed to its command topic', () => daemon!.lines.some((l) => l.msg === 'connected to the MQTT broker'));
    await new Promise((r) => setTimeout(r, 300));
    const replies = () => ops.messages.filter((m) => m.topic === 'furrow/gw-cmd/cmd/reply').map((m) => m.body);
    const send = async (body: unknown) => {
      const before = replies().length;
      await ops.client.publishAsync('furrow/gw-cmd/cmd', typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
      await waitFor('a reply', () => replies().length > before);
      return replies().at(-1)!;
    };

    expect(await send({ id: 'b1', command: 'rollout.halt', rollout: 'spring' })).toMatchObject({ id: 'b1', ok: false, error: { code: 'BAD_COMMAND' } });
    expect(await send({ id: 'b2', command: 'rollout.abort', rollout: 'spring' })).toMatchObject({ id: 'b2', ok: false, error: { code: 'NOT_ALLOWED' } });
    expect(await send('pause spring please')).toMatchObject({ id: null, ok: false, error: { code: 'BAD_JSON' } });
    expect(await send({ id: 'b3', command: 'rollout.pause', rollout: 'autumn' })).toMatchObject({ id: 'b3', ok: false, error: { code: 'ROLLOUT_UNKNOWN' } });
    expect(await send({ id: 'b4', command: 'rollout.resume', rollout: 'spring' })).toMatchObject({ id: 'b4', ok: false, error: { code: 'ROLLOUT_STATE' } });
    expect(rolloutState()).toBe('running');

    expect(await send({ id: 'g1', command: 'rollout.pause', rollout: 'spring', reason: 'milking' })).toEqual({
      id: 'g1',
      ok: true,
      command: 'rollout.pause',
      result: { rollout: 'spring', state: 'paused' },
    });
    expect(rolloutState()).toBe('paused');
    // The engine notices the change and announces it; telemetry publishes it retained.
    await waitFor('rollout.state paused over MQTT', () =>
      ops.messages.some((m) => m.topic === 'furrow/gw-cmd/rollouts/spring/state' && (m.body.data as { state: string }).state === 'paused'),
    );
    const status = await send({ id: 's1', command: 'status' });
    expect(status).toMatchObject({ ok: true, result: { source: 'daemon', gateway: 'gw-cmd', rollouts: [{ id: 'spring', state: 'paused', progress: { total: 1, updated: 0, failed: 0 } }] } });
    await ops.client.endAsync(true);
  });
});
