import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '../../src/bearer/lora/chirpstack/client.ts';
import type { Ack, TxAck, Uplink } from '../../src/bearer/lora/chirpstack/messages.ts';
import { silentLogger } from '../../src/log.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { freeTcpPort } from '../helpers/daemon.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { APP_ID } from '../helpers/chirpstack-emulator-gateway.ts';

const EUI = '70b3d57ed0000a01';

describe('ChirpStack client against the emulator (custom topic prefix)', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let client: ChirpStackClient;
  const ups: Uplink[] = [];
  const txacks: TxAck[] = [];
  const got: Buffer[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, topicPrefix: 'farm-7/', rxWindowMs: 150 });
    await emu.start();
    emu.addDevice(EUI, { dr: 2, app: { onDownlink: (_p, data) => got.push(data) } });
    client = new ChirpStackClient({ mqttUrl: broker.url, applicationId: APP_ID, topicPrefix: 'farm-7/', log: silentLogger() });
    client.onUplink((u) => ups.push(u));
    client.onTxAck((t) => txacks.push(t));
    await client.start();
  });

  afterAll(async () => {
    await client?.stop();
    await emu?.stop();
    await broker?.stop();
  });

  it('holds a Class A downlink until the device uplinks, then delivers it in that receive window', async () => {
    await emu.uplink(EUI, 7, Buffer.from('hi'));
    await expect.poll(() => ups.length).toBe(1);
    expect(ups[0]).toMatchObject({ devEui: EUI, fPort: 7, dr: 2, fCnt: 1 });
    expect(ups[0]!.data.toString()).toBe('hi');
    await new Promise((r) => setTimeout(r, 250)); // that uplink's receive window is over
    const id = await client.enqueue(EUI, 30, Buffer.from('answer'));
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([]); // Class A: nothing reaches the device without an uplink
    expect(client.pending.has(id)).toBe(true);
    await emu.uplink(EUI, 7, Buffer.from('again'));
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]!.toString()).toBe('answer');
    await expect.poll(() => txacks.map((t) => t.queueItemId)).toContain(id);
    expect(client.pending.has(id)).toBe(false);
  });

  it('refuses an FPort outside 1..223 before anything is published', async () => {
    const before = client.stats.downlinks;
    await expect(client.enqueue(EUI, 224, Buffer.alloc(1))).rejects.toThrow(/FPort 224 is outside 1\.\.223/);
    expect(client.stats.downlinks).toBe(before);
  });

  it('reports ack events for confirmed downlinks', async () => {
    const acks: Ack[] = [];
    client.onAck((a) => acks.push(a));
    const c = await (await import('mqtt')).default.connectAsync(broker.url);
    await c.publishAsync(`farm-7/application/${APP_ID}/device/${EUI}/event/ack`, JSON.stringify({ deviceInfo: { devEui: EUI }, queueItemId: 'abc', acknowledged: true, fCntDown: 9 }), { qos: 1 });
    await c.endAsync();
    await expect.poll(() => acks.length).toBe(1);
    expect(acks[0]).toEqual({ devEui: EUI, queueItemId: 'abc', acknowledged: true, fCntDown: 9 });
  });
});

describe('ChirpStack client without a broker', () => {
  it('starts anyway, keeps retrying, and picks up uplinks once the broker is there', async () => {
    const port = await freeTcpPort();
    const client = new ChirpStackClient({ mqttUrl: `mqtt://127.0.0.1:${port}`, applicationId: APP_ID, topicPrefix: '', log: silentLogger(), connectTimeoutMs: 300 });
    const ups: Uplink[] = [];
    client.onUplink((u) => ups.push(u));
    await client.start();
    expect(client.connected).toBe(false);
    const broker = await startMosquitto(port);
    const emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID });
    try {
      await emu.start();
      emu.addDevice(EUI, { dr: 5, app: { onDownlink: () => undefined } });
      await expect.poll(() => client.connected, { timeout: 8000 }).toBe(true);
      // The subscription follows the connect: keep uplinking (as a device would) until one is heard.
      for (let i = 0; i < 25 && ups.length === 0; i++) {
        await emu.uplink(EUI, 3, Buffer.from([1]));
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(ups.length).toBeGreaterThanOrEqual(1);
      expect(ups[0]!.devEui).toBe(EUI);
    } finally {
      await client.stop();
      await emu.stop();
      await broker.stop();
    }
  });
});
