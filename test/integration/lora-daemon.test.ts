import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.ts';
import { Daemon } from '../../src/daemon.ts';
import { silentLogger } from '../../src/log.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { FurrowLoraDevice } from '../helpers/chirpstack-emulator-device.ts';
import { APP_ID, PORTS } from '../helpers/chirpstack-emulator-gateway.ts';

describe('the daemon with a lora: section', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let daemon: Daemon;
  let dir: string;

  beforeAll(async () => {
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, rxWindowMs: 300 });
    await emu.start();
    dir = mkdtempSync(join(tmpdir(), 'furrow-lora-daemon-'));
    const config = configSchema.parse({
      data: { dir },
      coap: { host: '127.0.0.1', port: 0 },
      metrics: { port: 0 },
      lora: { chirpstack: { mqttUrl: broker.url, applicationId: APP_ID } },
    });
    daemon = new Daemon({ config, file: join(dir, 'furrow.yaml') }, { log: silentLogger() });
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop();
    await emu?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves CoAP check-ins that arrive as LoRaWAN uplinks through ChirpStack', async () => {
    const key = Buffer.alloc(32, 5);
    const running = createHash('sha256').update('image').digest('hex');
    new DeviceRepo(daemon.context.db).add({ id: 'field-7', product: 'soil-probe', deviceKey: key, runningSha256: running }, Date.now());
    const dev = new FurrowLoraDevice(emu, '70b3d57ed0000777', { dr: 3, ports: PORTS, coapTimeoutMs: 200, heartbeatMs: 5000 });
    const r = await dev.checkin('field-7', key, 'soil-probe', running);
    expect(r.code).toBe('2.05');
    expect(r.map.get(1)).toBe(0); // no release for this product: nothing to do
    const bad = await dev.checkin('field-7', Buffer.alloc(32, 6), 'soil-probe', running);
    expect(bad.code).toBe('4.01'); // wrong key: refused, over LoRa like over UDP
  });
});
