import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ModemBearer } from '../../src/bearer/modem.ts';
import type { FurrowEvents } from '../../src/events.ts';
import { startRig, type Rig } from '../helpers/modem-emulator/harness.ts';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function udpClient() {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

describe('modem bring-up on a real pty', () => {
  it('brings up an emulated BG96: identifies it, registers, activates PDP and opens a UDP SERVICE socket', async () => {
    rig = await startRig('bg96', { apn: 'farm.iot' });
    await rig.waitState('ready');
    const d = rig.modem.driver;
    expect(d.model).toBe('bg96');
    expect(d.revision).toBe('BG96MAR02A07M1G');
    expect(d.ip).toBe('10.64.0.17');
    const cmds = rig.emu.commands;
    for (const c of ['ATE0', 'AT+CMEE=1', 'ATI', 'AT+CGMR', 'AT+CPIN?', 'AT+QCFG="iotopmode",2,1', 'AT+QCFG="nwscanseq",0203,1', 'AT+QICSGP=1,1,"farm.iot","","",0', 'AT+CEREG=2', 'AT+CEREG?', 'AT+QIACT=1']) {
      expect(cmds).toContain(c);
    }
    expect(cmds.some((c) => c.startsWith('AT+QIOPEN=1,0,"UDP SERVICE","127.0.0.1",0,0,1'))).toBe(true);
    expect(rig.emu.apn).toBe('farm.iot');
    expect(rig.logs.has('modem ready')).toBe(true);
  });

  it('brings up an emulated BC66 with power saving off and hex receive format, one socket per configured peer', async () => {
    const peer = await udpClient();
    const port = (peer.address() as dgram.RemoteInfo).port;
    rig = await startRig('bc66', { peers: [`127.0.0.1:${port}`] });
    await rig.waitState('ready');
    expect(rig.modem.driver.model).toBe('bc66');
    expect(rig.modem.driver.revision).toBe('BC66NBR01A10');
    const cmds = rig.emu.commands;
    for (const c of ['AT+QSCLK=0', 'AT+CPSMS=0', 'AT+CEDRXS=0', 'AT+QICFG="dataformat",0,1', 'AT+QICFG="viewmode",1', 'AT+QICFG="showlength",1', 'AT+CGPADDR=1']) {
      expect(cmds).toContain(c);
    }
    expect(cmds).toContain(`AT+QIOPEN=1,0,"UDP","127.0.0.1",${port},0,1`);
    peer.close();
  });

  it('sends the configured BC66 power saving (PSM timers, eDRX, sleep) when a battery gateway asks for it', async () => {
    rig = await startRig('bc66', { bc66: { psm: { tau: '00100011', activeTime: '00000010' }, edrx: '0101', sleep: true } });
    await rig.waitState('ready');
    expect(rig.emu.commands).toEqual(expect.arrayContaining(['AT+QSCLK=1', 'AT+CPSMS=1,,,"00100011","00000010"', 'AT+CEDRXS=1,5,"0101"']));
  });

  it('refuses a config model that differs from what ATI reports, and says which', async () => {
    rig = await startRig('bc66', { model: 'bg96' });
    await expect.poll(() => rig!.logs.has('modem bring-up failed; retrying'), { timeout: 5000 }).toBe(true);
    const line = rig.logs.find('modem bring-up failed; retrying')[0]!;
    expect(String(line.error)).toMatch(/modem\.model is bg96 but the modem .* reports BC66/);
    expect(rig.modem.driver.ready).toBe(false);
  });

  it('polls health (CSQ, CESQ, CEREG, serving cell) and emits modem.health', async () => {
    rig = await startRig('bg96');
    await rig.waitState('ready');
    const seen: Array<FurrowEvents['modem.health']> = [];
    rig.events.on('modem.health', 'test', (h) => void seen.push(h));
    rig.emu.signal.rsrp = -101;
    rig.emu.signal.sinr = 7;
    rig.emu.signal.ceLevel = 1;
    const h = await rig.modem.health.poll();
    expect(h).toMatchObject({ model: 'bg96', registered: true, csq: 20, rsrp: -101, rsrq: -9, sinr: 7, ceLevel: 1, cellId: '0A2B3C4', pci: 257, regStat: 1 });
    expect(seen.at(-1)).toMatchObject({ model: 'bg96', registered: true, rsrp: -101, sinr: 7, ceLevel: 1, cellId: '0A2B3C4' });
    expect(rig.modem.current().rsrp).toBe(-101);
    // The serving cell says CAT-M, so the airtime model treats this bearer as LTE-M.
    expect(new ModemBearer(rig.modem.driver).kind).toBe('ltem');
  });

  it('reads the BC66 serving cell from AT+QENG=0 including the ECL', async () => {
    rig = await startRig('bc66');
    await rig.waitState('ready');
    rig.emu.signal.ceLevel = 2;
    const h = await rig.modem.health.poll();
    expect(h).toMatchObject({ model: 'bc66', rsrp: -87, rsrq: -9, sinr: 12, ceLevel: 2, earfcn: 3734, band: 20, cellId: '0A2B3C4' });
  });
});

describe('modem bearer end to end (emulator ↔ real UDP on loopback)', () => {
  for (const [accessMode, noDataformat] of [['push', false], ['buffer', false], ['push', true], ['buffer', true]] as const) {
    it(`carries datagrams both ways through a BG96 in ${accessMode} mode${noDataformat ? ' on firmware without hex data format (raw bytes by length)' : ''}, binary bytes intact`, async () => {
      rig = await startRig('bg96', { accessMode }, undefined, { noDataformat });
      await rig.waitState('ready');
      const bearer = new ModemBearer(rig.modem.driver);
      await bearer.start();
      const got: Array<{ data: Buffer; peer: { address: string; port: number } }> = [];
      bearer.onMessage((data, peer) => got.push({ data, peer }));
      const device = await udpClient();
      const modemAddr = rig.emu.socketAddress(0)!;
      const payload = Buffer.from([0x40, 0x01, 0x0d, 0x0a, 0x00, 0xff, 0x3e, 0x20, 0x4f, 0x4b]); // CR LF, NUL, "> ", "OK"
      device.send(payload, modemAddr.port, '127.0.0.1');
      await expect.poll(() => got.length, { timeout: 3000 }).toBe(1);
      expect(got[0]!.data.equals(payload)).toBe(true);
      if (noDataformat) expect(rig.logs.has('this BG96 firmware has no AT+QICFG="dataformat"; receiving raw bytes by length')).toBe(true);
      expect(got[0]!.peer.port).toBe((device.address() as dgram.RemoteInfo).port);
      const reply = Buffer.alloc(1400, 0xa5);
      const received = once(device, 'message');
      await bearer.send(reply, { ...got[0]!.peer, bearer: 'modem' });
      const [msg] = (await received) as [Buffer];
      expect(msg.equals(reply)).toBe(true);
      expect(bearer.maxDatagram).toBe(1460);
      await expect(bearer.send(Buffer.alloc(1461), { ...got[0]!.peer, bearer: 'modem' })).rejects.toThrow(/1461 bytes .* exceeds the modem bearer's limit of 1460 bytes/);
      device.close();
      await bearer.stop();
    });
  }

  for (const sendFormat of ['hex', 'prompt'] as const) {
    it(`carries datagrams both ways through a BC66 socket (${sendFormat} send)`, async () => {
      const device = await udpClient();
      const devPort = (device.address() as dgram.RemoteInfo).port;
      rig = await startRig('bc66', { peers: [`127.0.0.1:${devPort}`], sendFormat });
      await rig.waitState('ready');
      const bearer = new ModemBearer(rig.modem.driver);
      await bearer.start();
      expect(bearer.kind).toBe('nbiot');
      expect(bearer.maxDatagram).toBe(512);
      const got: Buffer[] = [];
      bearer.onMessage((d, peer) => {
        expect(peer).toEqual({ address: '127.0.0.1', port: devPort, bearer: 'modem' });
        got.push(d);
      });
      const payload = Buffer.from('0d0a00ff2c22', 'hex');
      device.send(payload, rig.emu.socketAddress(0)!.port, '127.0.0.1');
      await expect.poll(() => got.length, { timeout: 3000 }).toBe(1);
      expect(got[0]!.equals(payload)).toBe(true);
      const received = once(device, 'message');
      const reply = Buffer.alloc(512, 0x0d);
      await bearer.send(reply, { address: '127.0.0.1', port: devPort, bearer: 'modem' });
      const [msg] = (await received) as [Buffer];
      expect(msg.equals(reply)).toBe(true);
      device.close();
    });
  }
});
