import { createHash } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FurrowError } from '../../src/errors.ts';
import { maxPayload } from '../../src/bearer/lora/regional.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { FurrowLoraDevice } from '../helpers/chirpstack-emulator-device.ts';
import { APP_ID, PORTS, startLoraGateway, type LoraGateway } from '../helpers/chirpstack-emulator-gateway.ts';
import { corpusPatch, type CorpusPatch } from '../helpers/chirpstack-emulator-patch.ts';

const KEY = (i: number): Buffer => Buffer.alloc(32, i);
const EUI = (i: number): string => `70b3d57ed00${i.toString(16).padStart(5, '0')}`;

describe('LoRa unicast through ChirpStack (emulated) to the real CoAP server', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let gw: LoraGateway;
  let cp: CorpusPatch;
  const devices: FurrowLoraDevice[] = [];
  const add = (i: number, dr: number, extra: { lossDown?: number; lossUp?: number; deviceClass?: 'A' | 'C' } = {}): FurrowLoraDevice => {
    const d = new FurrowLoraDevice(emu, EUI(i), { dr, ports: PORTS, heartbeatMs: 1000, coapTimeoutMs: 50, ...extra });
    devices.push(d);
    return d;
  };

  beforeAll(async () => {
    cp = await corpusPatch();
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 11, rxWindowMs: 300 });
    await emu.start();
    gw = await startLoraGateway({ brokerUrl: broker.url, patch: cp.patch, baseSha256: cp.baseSha256, targetSha256: cp.targetSha256, devices: [1, 2, 3, 4, 6].map((i) => ({ id: `probe-${i}`, key: KEY(i) })) });
  });

  afterAll(async () => {
    for (const d of devices) d.stop();
    await gw?.stop();
    await emu?.stop();
    await broker?.stop();
  });

  it('round-trips a check-in: ChirpStack uplink JSON in, SCHC-compressed downlink command out, txack back', async () => {
    const dev = add(1, 5);
    const r = await dev.checkin('probe-1', KEY(1), gw.product, cp.baseSha256);
    expect(r.code).toBe('2.05');
    expect(r.map.get(1)).toBe(2); // decision: update
    expect(r.map.get(5)).toBe(cp.patch.length);
    expect(r.map.get(7)).toBe(3); // DR5 carries 128-byte blocks (SZX 3)
    expect(String(r.map.get(4))).toMatch(/^p\//);
    expect(gw.transport.devices.get(EUI(1))).toMatchObject({ dr: 5, deviceClass: 'A' });
    expect(gw.transport.stats.framesUp).toBeGreaterThanOrEqual(1);
    // the downlink left as a frame smaller than the CoAP message it carries
    await expect.poll(() => gw.transport.stats.framesDown).toBeGreaterThanOrEqual(1);
    expect(gw.transport.stats.frameBytesDown).toBeLessThan(gw.transport.stats.coapBytesDown);
    // ChirpStack's txack names the queue item; the client forgets items once a gateway took them.
    await expect.poll(() => gw.client.stats.txacks).toBeGreaterThanOrEqual(1);
    expect(gw.client.pending.size).toBeLessThan(gw.client.stats.downlinks);
  });

  it('downloads the corpus patch at DR5 byte-exact in 128-byte blocks under 3% frame loss', async () => {
    const dev = add(2, 5, { lossDown: 0.03, lossUp: 0.03 });
    const c = await dev.checkin('probe-2', KEY(2), gw.product, cp.baseSha256);
    const before = { ...emu.stats.unicastDown };
    const r = await dev.download(String(c.map.get(4)).split('/'));
    expect(r.szx).toBe(3);
    expect(r.data.equals(cp.patch)).toBe(true);
    expect(emu.stats.oversize).toBe(0);
    const frames = emu.stats.unicastDown.frames - before.frames;
    expect(frames).toBeGreaterThanOrEqual(Math.ceil(cp.patch.length / 128));
    expect((emu.stats.unicastDown.bytes - before.bytes) / frames).toBeLessThanOrEqual(maxPayload(5));
    expect(dev.stats.coapRetransmissions).toBeGreaterThan(0); // the loss model did bite
  });

  it('downloads the corpus patch at DR0 in 32-byte blocks with every frame inside the 51-byte limit', async () => {
    const dev = add(3, 3);
    const c = await dev.checkin('probe-3', KEY(3), gw.product, cp.baseSha256);
    expect(c.code).toBe('2.05');
    // the advised block size follows this device's data rate (DR3: 64 B), not the bearer's 242-byte DR5 frames
    expect(c.map.get(7)).toBe(2);
    // ADR moves the device down to DR0 before the download starts.
    emu.devices.get(EUI(3))!.dr = 0;
    (dev as unknown as { o: { dr: number } }).o.dr = 0;
    const before = emu.stats.unicastDown.frames;
    const r = await dev.download(String(c.map.get(4)).split('/'));
    expect(r.szx).toBe(1);
    expect(r.data.equals(cp.patch)).toBe(true);
    expect(emu.stats.unicastDown.frames - before).toBeGreaterThanOrEqual(Math.ceil(cp.patch.length / 32));
    // and it resumes mid-patch (after a power cut) from the block holding its offset
    const tail = await dev.download(String(c.map.get(4)).split('/'), cp.patch.length - 1000);
    expect(tail.data.equals(cp.patch.subarray(Math.floor((cp.patch.length - 1000) / 32) * 32))).toBe(true);
    expect(emu.stats.oversize).toBe(0);
    expect(gw.transport.devices.get(EUI(3))!.dr).toBe(0);
    expect(gw.transport.blockSzxFor({ address: EUI(3), port: 0, bearer: 'lora' })).toBe(1);
    expect(gw.transport.blockSzxFor({ address: EUI(2), port: 0, bearer: 'lora' })).toBe(3);
    // A DR0 device that asks for 128-byte blocks gets 32-byte ones from the offset it asked for.
    const r128 = await dev.request({ code: 'GET', options: [...String(c.map.get(4)).split('/').map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) })), { name: 'Block2', value: Buffer.from([(2 << 4) | 3]) }] });
    expect(r128.code).toBe('2.05');
    const b = r128.options.find((o) => o.name === 'Block2')!.value[0]!;
    expect(b & 7).toBe(1); // SZX 1 = 32 bytes
    expect(b >> 4).toBe(8); // block 2 of 128 B = block 8 of 32 B: offset 256
    expect(r128.payload.equals(cp.patch.subarray(256, 288))).toBe(true);
    expect(emu.stats.oversize).toBe(0);
  });

  it('checks in, fetches the manifest and downloads the patch at DR0 with every frame inside 51 bytes', async () => {
    const dev = add(6, 0);
    const oversize = emu.stats.oversize;
    // the body the firmware sends: last result and version as well (~100-byte envelope, two DR0 frames' worth)
    const c = await dev.checkinBlockwise('probe-6', KEY(6), gw.product, cp.baseSha256, 1, [[4, 'none'], [9, '0.14.3']]);
    expect(c.code).toBe('2.05');
    expect(c.blocksUp).toBeGreaterThan(2);
    expect(c.blocksDown).toBeGreaterThan(2); // the 94-byte answer came back in 32-byte blocks
    expect(c.map.get(1)).toBe(2);
    expect(c.map.get(7)).toBe(1); // DR0: 32-byte blocks
    expect(Buffer.from(c.map.get(8) as Uint8Array).toString('hex')).toBe(createHash('sha256').update(cp.patch).digest('hex'));
    const m = await dev.download(String(c.map.get(3)).split('/'));
    expect(m.blocks).toBeGreaterThan(1);
    expect(m.data.length).toBeGreaterThan(100); // a COSE_Sign1 manifest
    const p = await dev.download(String(c.map.get(4)).split('/'));
    expect(p.szx).toBe(1);
    expect(p.data.equals(cp.patch)).toBe(true);
    // the emulator refuses uplinks above 51 bytes (throws) and counts downlinks above it as oversize
    expect(emu.stats.oversize).toBe(oversize);
    expect(gw.transport.devices.get(EUI(6))!.dr).toBe(0);
  });

  it('refuses to queue a frame larger than the device data rate carries', async () => {
    add(4, 0);
    await emu.uplink(EUI(4), 2, Buffer.from([1]));
    await expect.poll(() => gw.transport.devices.get(EUI(4))?.lastFCnt).toBe(1);
    const big = Buffer.concat([Buffer.from([0x60, 0x45, 0x00, 0x01]), Buffer.from([0xff]), Buffer.alloc(80, 0xaa)]);
    const sent = gw.client.stats.downlinks;
    await expect(gw.transport.send(big, { address: EUI(4), port: 0, bearer: 'lora' })).rejects.toThrow(FurrowError);
    await expect(gw.transport.send(big, { address: EUI(4), port: 0, bearer: 'lora' })).rejects.toThrow(/DR0 takes at most 51/);
    expect(gw.client.stats.downlinks).toBe(sent);
  });

  it('queues a reply only once while a Class A device has not yet fetched it', async () => {
    add(5, 5);
    await emu.uplink(EUI(5), 2, Buffer.from([1]));
    await expect.poll(() => gw.transport.devices.get(EUI(5))?.lastFCnt).toBe(1);
    await new Promise((r) => setTimeout(r, 350)); // the receive window of that uplink has closed
    const reply = Buffer.from([0x60, 0x44, 0x12, 0x34]); // ACK 2.04, as for a retransmitted report
    const before = gw.client.stats.downlinks;
    const suppressed = gw.transport.stats.duplicatesSuppressed;
    await gw.transport.send(reply, { address: EUI(5), port: 0, bearer: 'lora' });
    await gw.transport.send(reply, { address: EUI(5), port: 0, bearer: 'lora' });
    expect(gw.client.stats.downlinks).toBe(before + 1);
    expect(gw.transport.stats.duplicatesSuppressed).toBe(suppressed + 1);
  });

  it('delivers to a Class C device without waiting for an uplink', async () => {
    const got: Buffer[] = [];
    const d = emu.addDevice(EUI(9), { dr: 5, deviceClass: 'C', app: { onDownlink: (_p, data) => got.push(data) } });
    gw.transport.device(EUI(9)).dr = d.dr;
    await gw.transport.sendRaw(EUI(9), 99, Buffer.from('hello'));
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]!.toString()).toBe('hello');
  });

  it('drops malformed ChirpStack events with a count and keeps serving', async () => {
    const c = await mqtt.connectAsync(broker.url);
    const malformed = gw.client.stats.malformed;
    await c.publishAsync(`application/${APP_ID}/device/${EUI(1)}/event/up`, 'not json', { qos: 1 });
    await c.publishAsync(`application/${APP_ID}/device/${EUI(1)}/event/up`, JSON.stringify({ deviceInfo: { devEui: 'xyz' }, fPort: 20 }), { qos: 1 });
    await c.publishAsync(`application/${APP_ID}/device/${EUI(1)}/event/up`, JSON.stringify({ deviceInfo: { devEui: EUI(1) }, fPort: PORTS.fPortBase + 5, data: 'AAEC' }), { qos: 1 });
    await c.endAsync();
    await expect.poll(() => gw.client.stats.malformed).toBe(malformed + 2);
    await expect.poll(() => gw.transport.stats.undecodable).toBeGreaterThanOrEqual(1);
    const r = await devices[0]!.checkin('probe-1', KEY(1), gw.product, cp.baseSha256);
    expect(r.code).toBe('2.05');
  });
});
