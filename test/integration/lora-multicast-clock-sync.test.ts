import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '../../src/bearer/lora/chirpstack/client.ts';
import * as ts003 from '../../src/bearer/lora/clock-sync.ts';
import { ClockSync } from '../../src/bearer/lora/clock-sync-service.ts';
import { loraConfigSchema } from '../../src/bearer/lora/config.ts';
import { LoraTransport } from '../../src/bearer/lora/transport.ts';
import { scheduleConfigSchema } from '../../src/schedule/config.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { silentLogger } from '../../src/log.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { APP_ID, PORTS } from '../helpers/chirpstack-emulator-gateway.ts';
import { CLOCK_PORT, ClockedLoraDevice, waitFor } from './lora-multicast-harness.ts';

describe('TS003 clock synchronization through ChirpStack (emulated) and mosquitto', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let transport: LoraTransport;
  let clock: ClockSync;
  let scheduler: Scheduler;
  let db: Db;
  let dir: string;
  const devices: ClockedLoraDevice[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, rxWindowMs: 300 });
    await emu.start();
    dir = mkdtempSync(join(tmpdir(), 'furrow-lora-clock-'));
    db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
    const log = silentLogger();
    const client = new ChirpStackClient({ mqttUrl: broker.url, applicationId: APP_ID, topicPrefix: '', log, connectTimeoutMs: 5000 });
    transport = new LoraTransport({ name: 'lora', client, log, fPortBase: PORTS.fPortBase, defaultDr: 5 });
    const config = loraConfigSchema.parse({ chirpstack: { applicationId: APP_ID } }).clockSync;
    // The daemon charges raw frames to the schedule (src/daemon.ts); so does this test, to check it.
    scheduler = new Scheduler(scheduleConfigSchema.parse({ bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 7 } } }), { now: () => Date.now(), monotonic: () => performance.now() });
    transport.meterRaw(scheduler);
    clock = new ClockSync({ transport, db, log, config: () => config, now: () => Date.now() });
    await transport.start();
    clock.start();
  });

  afterAll(async () => {
    for (const d of devices) d.stop();
    clock?.stop();
    scheduler?.stop();
    await transport?.stop();
    await emu?.stop();
    await broker?.stop();
    if (db?.open) db.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const device = (eui: string, clockOffsetMs: number, deviceClass: 'A' | 'C' = 'A'): ClockedLoraDevice => {
    const d = new ClockedLoraDevice(emu, eui, { dr: 5, deviceClass, ports: PORTS, heartbeatMs: 200, clockOffsetMs });
    devices.push(d);
    d.start();
    return d;
  };

  it('answers a device whose clock is 100 s slow with the correction, and the device then keeps time', async () => {
    const d = device('70b3d57ed0c10001', -100_000);
    await d.sendAppTimeReq(false);
    await waitFor(() => d.corrections.length === 1, 'AppTimeAns');
    // network GPS time at reception − DeviceTime; reception time comes from the event, sent within a second
    expect(d.corrections[0]).toBeGreaterThanOrEqual(99);
    expect(d.corrections[0]).toBeLessThanOrEqual(101);
    expect(Math.abs(d.clockOffsetMs)).toBeLessThanOrEqual(1000);
    expect(d.token).toBe(1);
    expect(clock.isSynced(d.devEui)).toBe(true);
    expect(clock.row(d.devEui)?.correction_s).toBe(d.corrections[0]);
    // The AppTimeAns took airtime on the LoRa bearer's sub-band like any CoAP reply.
    expect(scheduler.stats('lora')!.admittedFrames).toBeGreaterThanOrEqual(1);
    expect(scheduler.stats('lora')!.airtimeMs).toBeGreaterThan(0);
  });

  it('stays silent for a clock within tolerance unless AnsRequired is set (§3.2)', async () => {
    const d = device('70b3d57ed0c10002', 0);
    const before = { ...clock.stats };
    await d.sendAppTimeReq(false);
    await waitFor(() => clock.stats.requests === before.requests + 1, 'the AppTimeReq at the gateway');
    expect(clock.stats.inTolerance).toBe(before.inTolerance + 1);
    expect(clock.stats.answers).toBe(before.answers);
    await d.sendAppTimeReq(true);
    await waitFor(() => d.corrections.length === 1, 'the AppTimeAns AnsRequired asked for');
    expect(Math.abs(d.corrections[0]!)).toBeLessThanOrEqual(1);
  });

  it("uses a GPS gateway's timeSinceGpsEpoch from the uplink event, not the gateway's own clock", async () => {
    // A Class C device, so the answer goes out at once; the uplink is published by hand the way
    // ChirpStack reports a frame received by a GPS gateway in 2022 (rxInfo.timeSinceGpsEpoch).
    const d = device('70b3d57ed0c10003', 0, 'C');
    const gps = 1_356_091_325;
    const event = {
      deviceInfo: { applicationId: APP_ID, devEui: d.devEui, deviceClassEnabled: 'CLASS_C' },
      time: new Date().toISOString(),
      dr: 5,
      fCnt: 7,
      fPort: CLOCK_PORT,
      data: ts003.encodeAppTimeReq({ deviceTime: gps - 50, tokenReq: 0, ansRequired: false }).toString('base64'),
      rxInfo: [{ gatewayId: '0016c001ff10a235', rssi: -80, snr: 9, time: '2022-12-26T12:01:47.709920+00:00', timeSinceGpsEpoch: `${gps}.709920s` }],
    };
    const pub = await mqtt.connectAsync(broker.url);
    await pub.publishAsync(`application/${APP_ID}/device/${d.devEui}/event/up`, JSON.stringify(event), { qos: 1 });
    await pub.endAsync();
    await waitFor(() => d.corrections.length === 1, 'AppTimeAns for the GPS-timed uplink');
    expect(d.corrections[0]).toBe(50);
  });

  it('makes a device with an unknown clock resync on request (ForceDeviceResyncReq, §3.4)', async () => {
    const d = device('70b3d57ed0c10004', 3_600_000);
    expect(clock.isSynced(d.devEui)).toBe(false);
    const synced = new Promise<string>((resolve) => {
      const off = clock.onSync((eui) => {
        if (eui !== d.devEui) return;
        off();
        resolve(eui);
      });
    });
    await clock.requestResync(d.devEui);
    await synced;
    await waitFor(() => d.corrections.length === 1, 'AppTimeAns after the resync');
    expect(d.corrections[0]).toBeGreaterThanOrEqual(-3601);
    expect(d.corrections[0]).toBeLessThanOrEqual(-3599);
    expect(clock.isSynced(d.devEui)).toBe(true);
  });

  it('drops a truncated AppTimeReq with a warning and keeps serving', async () => {
    const d = device('70b3d57ed0c10005', -10_000);
    const bad = clock.stats.bad;
    await emu.uplink(d.devEui, CLOCK_PORT, Buffer.from('01d202', 'hex'));
    await waitFor(() => clock.stats.bad === bad + 1, 'the bad frame counted');
    await d.sendAppTimeReq(false);
    await waitFor(() => d.corrections.length === 1, 'AppTimeAns after the bad frame');
  });
});
