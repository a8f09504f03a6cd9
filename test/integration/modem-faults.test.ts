import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ModemBearer } from '../../src/bearer/modem.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/clock.ts';
import { EventBus } from '../../src/events.ts';
import { modemConfigSchema } from '../../src/modem/config.ts';
import { ModemService } from '../../src/modem/service.ts';
import { ModemEmulator } from '../helpers/modem-emulator/emulator.ts';
import { LogCapture, startRig, type Rig } from '../helpers/modem-emulator/harness.ts';

/**
 * Every fault the emulator can inject, survived: the modem comes back by itself, datagrams flow again,
 * and the log says what happened.
 */
let rig: Rig | undefined;
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await rig?.close();
  rig = undefined;
});

async function device(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  sockets.push(s);
  return s;
}

/** A device datagram goes in through the modem and the bearer's answer comes back out. */
async function roundTrip(r: Rig, dev: dgram.Socket, emu: ModemEmulator, tag: string): Promise<void> {
  const bearer = new ModemBearer(r.modem.driver);
  await bearer.start();
  bearer.onMessage((data, peer) => void bearer.send(Buffer.concat([Buffer.from("echo:"), data]), peer).catch(() => undefined));
  const reply = once(dev, 'message');
  dev.send(Buffer.from(tag), emu.socketAddress(r.cfg.connectId)!.port, '127.0.0.1');
  const [msg] = (await reply) as [Buffer];
  expect(msg.toString()).toBe(`echo:${tag}`);
  await bearer.stop();
}

describe('modem faults are survived', () => {
  it('retries bring-up after +CME ERROR on AT+QIOPEN and AT+CPIN?, logging the error text', async () => {
    rig = await startRig('bg96', {}, (emu) => {
      emu.failNext('AT+CPIN?', 14);
      emu.failNext('AT+QIOPEN', 566);
    });
    await rig.waitState('ready');
    const fails = rig.logs.find('modem bring-up failed; retrying').map((l) => `${l.step}: ${l.error}`);
    expect(fails.some((f) => f.startsWith('sim:') && f.includes('+CME ERROR: 14 (SIM busy)'))).toBe(true);
    expect(fails.some((f) => f.startsWith('socket 0:') && f.includes('+CME ERROR: 566 (socket connect failed)'))).toBe(true);
    await roundTrip(rig, await device(), rig.emu, 'after-cme');
  });

  it('retries when the socket open reports an error code in +QIOPEN, naming it', async () => {
    rig = await startRig('bc66', {}, (emu) => emu.failOpen(556, 2));
    const dev = await device();
    rig.cfg.peers.push(`127.0.0.1:${(dev.address() as AddressInfo).port}`);
    await rig.waitState('ready');
    const fails = rig.logs.find('modem bring-up failed; retrying').map((l) => String(l.error));
    expect(fails.filter((f) => f === 'AT+QIOPEN for socket 0 failed: +QIOPEN: 0,556 (socket bind failed)')).toHaveLength(2);
    await roundTrip(rig, dev, rig.emu, 'after-open-error');
  });

  it('times out a command whose OK comes late, discards the late answer and keeps the next answers straight', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    rig.emu.delayNext('AT+CSQ', 1400);
    const h = await rig.modem.health.poll();
    expect(h?.csq).toBeUndefined();
    expect(h?.rsrp).toBe(-87);
    expect(rig.logs.has('AT command timed out; discarding late answers for a moment')).toBe(true);
    await expect.poll(() => rig!.logs.has(/discarded (an OK that came without the expected answer|a final result nobody waited for)/), { timeout: 3000 }).toBe(true);
    const again = await rig.modem.health.poll();
    expect(again).toMatchObject({ csq: 20, rsrp: -87, registered: true });
    await roundTrip(rig, await device(), rig.emu, 'after-late-ok');
  });

  it('survives a missing OK, and reopens the port when the modem stops answering altogether', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    rig.emu.swallowNext('AT+CESQ');
    const h = await rig.modem.health.poll();
    expect(h).toMatchObject({ csq: 20, registered: true });
    expect(h?.rsrq).toBe(-9); // from QENG; CESQ's answer never came
    // Now a hung modem: three commands in a row without a final result.
    rig.emu.swallowNext(/^AT/, 3);
    await rig.modem.health.poll();
    await expect.poll(() => rig!.logs.has('closing the serial port to recover the modem'), { timeout: 8000 }).toBe(true);
    await expect.poll(() => rig!.logs.find('serial port open').length, { timeout: 8000 }).toBeGreaterThanOrEqual(2);
    await rig.waitState('ready');
    await roundTrip(rig, await device(), rig.emu, 'after-hang');
  });

  it('ignores garbage bytes on the line, before an answer and between answers', async () => {
    rig = await startRig('bc66', {}, (emu) => emu.garbageBeforeNext('ATI'));
    const dev = await device();
    rig.cfg.peers.push(`127.0.0.1:${(dev.address() as AddressInfo).port}`);
    await rig.waitState('ready');
    rig.emu.injectGarbage();
    rig.emu.garbageBeforeNext('AT+CSQ');
    const h = await rig.modem.health.poll();
    expect(h).toMatchObject({ csq: 20, model: 'bc66', registered: true });
    expect(rig.logs.has('ignored garbage bytes from the modem')).toBe(true);
    expect(rig.modem.current().garbageBytes).toBeGreaterThan(0);
    await roundTrip(rig, dev, rig.emu, 'after-garbage');
  });

  it('loses no datagram when a "recv" URC is dropped in buffer mode (the poll reads it with AT+QIRD)', async () => {
    rig = await startRig('bg96', { accessMode: 'buffer' });
    await rig.waitState('ready');
    const bearer = new ModemBearer(rig.modem.driver);
    await bearer.start();
    const got: string[] = [];
    bearer.onMessage((d) => got.push(d.toString()));
    rig.emu.dropUrcs('recv', 1);
    const dev = await device();
    dev.send(Buffer.from('lost-urc'), rig.emu.socketAddress(0)!.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 150));
    expect(got).toEqual([]);
    expect(rig.emu.faults.fired).toContain('drop-urc recv');
    await rig.modem.health.poll();
    expect(got).toEqual(['lost-urc']);
  });

  it('a datagram whose URC is dropped in push mode is lost, and the retransmission gets through', async () => {
    rig = await startRig('bc66', {}, undefined);
    const dev = await device();
    rig.cfg.peers.push(`127.0.0.1:${(dev.address() as AddressInfo).port}`);
    await rig.waitState('ready');
    rig.emu.dropUrcs('recv', 1);
    const bearer = new ModemBearer(rig.modem.driver);
    await bearer.start();
    const got: string[] = [];
    bearer.onMessage((d) => got.push(d.toString()));
    const to = rig.emu.socketAddress(0)!.port;
    dev.send(Buffer.from('try-1'), to, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 150));
    dev.send(Buffer.from('try-2'), to, '127.0.0.1');
    await expect.poll(() => got, { timeout: 2000 }).toEqual(['try-2']);
  });

  for (const model of ['bg96', 'bc66'] as const) {
    it(`${model}: refuses datagrams while registration is lost, then re-attaches and carries them again`, async () => {
      const dev = await device();
      rig = await startRig(model, model === 'bc66' ? { peers: [`127.0.0.1:${(dev.address() as AddressInfo).port}`] } : {});
      await rig.waitState('ready');
      const bearer = new ModemBearer(rig.modem.driver);
      rig.emu.loseRegistration(400);
      await rig.waitState('registering', 2000);
      await expect(bearer.send(Buffer.from('x'), { address: '127.0.0.1', port: 9, bearer: 'modem' })).rejects.toThrow(/modem is (registering|attaching); datagram to 127.0.0.1:9 not sent/);
      await rig.waitState('ready');
      expect(rig.logs.has('lost network registration (+CEREG); datagrams are refused until it is back')).toBe(true);
      if (model === 'bg96') expect(rig.logs.has('network deactivated the PDP context (+QIURC: "pdpdeact"); re-attaching')).toBe(true);
      else expect(rig.logs.has('modem closed a socket (+QIURC: "closed"); reopening')).toBe(true);
      await roundTrip(rig, dev, rig.emu, 'after-coverage');
    });
  }

  it('reopens the serial port with backoff after it vanishes (USB unplug) and brings the modem up again', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    const health: boolean[] = [];
    rig.events.on('modem.health', 'test', (h) => void health.push(h.registered));
    const gone = rig.emu.vanish(500);
    await rig.waitState('disconnected', 3000);
    expect(health.at(-1)).toBe(false);
    const bearer = new ModemBearer(rig.modem.driver);
    await expect(bearer.send(Buffer.from('x'), { address: '127.0.0.1', port: 9, bearer: 'modem' })).rejects.toThrow(/modem is disconnected/);
    await gone;
    await rig.waitState('ready');
    // modem.health said "not registered" when the port went, and "registered" again once it was back.
    expect(health.lastIndexOf(true), JSON.stringify(health)).toBeGreaterThan(health.indexOf(false));
    expect(rig.modem.current().registered).toBe(true);
    expect(rig.logs.has('modem serial port lost; the bearer refuses datagrams until it is back')).toBe(true);
    // Either the close was noticed while the node was gone ("does not exist") or only afterwards
    // (a loaded machine); both go through the backoff path.
    expect(rig.logs.has(/reopening with backoff$/)).toBe(true);
    expect(rig.logs.find('serial port open').length).toBeGreaterThanOrEqual(2);
    await roundTrip(rig, await device(), rig.emu, 'after-unplug');
  });

  it('stops promptly while a bring-up step waits on a long maximum response time (AT+QIACT, 150 s)', async () => {
    rig = await startRig('bg96', {}, (emu) => emu.swallowNext('AT+QIACT=1'));
    await expect.poll(() => rig!.emu.commands.includes('AT+QIACT=1'), { timeout: 5000 }).toBe(true);
    await rig.modem.stop();
    expect(rig.modem.driver.state).toBe('stopped');
    // close() below stops it again: stop is safe to call twice.
  }, 15_000);

  it('notices an unplug and replug quicker than its checks (a new device node at the same path)', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    const readyBefore = rig.logs.find('modem ready').length;
    await rig.emu.vanish(0);
    await expect.poll(() => rig!.logs.find('modem ready').length, { timeout: 10_000 }).toBeGreaterThan(readyBefore);
    expect(rig.logs.has(/^modem serial port lost/)).toBe(true);
    await roundTrip(rig, await device(), rig.emu, 'after-fast-replug');
  });

  it('starts without a modem (port missing), keeps retrying, and brings the modem up once it is plugged in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'furrow-modem-late-'));
    const link = join(dir, 'ttyLATE');
    const logs = new LogCapture();
    const cfg = modemConfigSchema.parse({ port: link, localPort: 0, healthIntervalSeconds: 3600, reconnect: { minMs: 50, maxMs: 200 } });
    const modem = new ModemService({ log: logs.logger, events: new EventBus(logs.logger), clock: systemClock }, cfg);
    const emu = new ModemEmulator({ model: 'bc66', link });
    try {
      await modem.start();
      expect(modem.driver.state).toBe('disconnected');
      await expect.poll(() => logs.has(/does not exist \(modem unplugged or not enumerated yet\); reopening with backoff/), { timeout: 3000 }).toBe(true);
      await emu.start();
      await expect.poll(() => modem.driver.state, { timeout: 8000 }).toBe('ready');
      expect(modem.current()).toMatchObject({ model: 'bc66', registered: true });
    } finally {
      await modem.stop();
      await emu.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a full bring-up again when the modem reboots on its own (RDY)', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    const before = rig.emu.commands.filter((c) => c === 'ATI').length;
    rig.emu.reboot();
    await rig.waitState('initialising', 2000);
    await rig.waitState('ready');
    expect(rig.logs.has('modem restarted (RDY); running a full bring-up')).toBe(true);
    expect(rig.emu.commands.filter((c) => c === 'ATI').length).toBe(before + 1);
    await roundTrip(rig, await device(), rig.emu, 'after-reboot');
  });
});
