import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ModemBearer } from '../../src/bearer/modem.ts';
import { freeUdpPort } from '../helpers/daemon.ts';
import { startRig, type Rig } from '../helpers/modem-emulator/harness.ts';
import { TestDevice } from '../integration/coap-device.ts';
import { startHarness, type Harness } from '../integration/coap-harness.ts';

/**
 * A device downloads a patch from the real CoAP service over the emulated modem: device UDP → emulator
 * socket → pty → AT engine → modem bearer → CoAP, and back through AT+QISEND. Faults are injected in
 * the middle of the transfer; the device resumes from its own offset and ends with the exact patch.
 */
let h: Harness | undefined;
let rig: Rig | undefined;
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  await h?.stop(true);
  await rig?.close();
  h = undefined;
  rig = undefined;
});

async function setup(model: 'bg96' | 'bc66'): Promise<{ dev: TestDevice; patchPath: string; szx: number }> {
  h = await startHarness({ patchSize: 12_000, coap: { transfers: { flushEveryBlocks: 4, flushIntervalMs: 60_000 }, progressIntervalMs: 0 } });
  // A fixed modem port, as in the field (5683): after a re-attach the socket comes back on the same port.
  const modemPort = await freeUdpPort();
  const dev = new TestDevice({ port: modemPort, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 120, maxRetransmit: 16 });
  await dev.open();
  devices.push(dev);
  const devPort = (dev as unknown as { sock: { address(): { port: number } } }).sock.address().port;
  rig = await startRig(model, { localPort: modemPort, ...(model === 'bc66' ? { peers: [`127.0.0.1:${devPort}`] } : {}) });
  await rig.waitState('ready');
  const bearer = new ModemBearer(rig.modem.driver);
  await h.service.addTransport(bearer);
  const { reply, map } = await dev.checkin(h.baseSha256, h.product);
  expect(reply.code).toBe('2.05');
  expect(map.get(1)).toBe(2);
  // 1024-byte blocks fit the BG96's 1460-byte datagrams; the BC66's 512 need 256-byte blocks.
  return { dev, patchPath: map.get(4) as string, szx: model === 'bg96' ? 6 : 4 };
}

/** On failure, the modem log goes into the error: these runs depend on timing under load. */
async function withLogs(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const tail = rig?.logs.dump().split('\n').slice(-40).join('\n') ?? '';
    (err as Error).message += `\n--- modem log ---\n${tail}\n--- emulator faults: ${rig?.emu.faults.fired.join(', ')}`;
    throw err;
  }
}

describe('CoAP patch download through the emulated modem', () => {
  it('BG96: survives registration loss, a USB unplug, dropped URCs, garbage and a late OK mid-transfer, resuming each time', () => withLogs(async () => {
    const { dev, patchPath, szx } = await setup('bg96');
    const r = rig!;
    const parts: Buffer[] = [];
    let offset = 0;
    const step = async (blocks: number) => {
      const got = await dev.download(patchPath, { szx, offset, stopAfterBlocks: blocks });
      parts.push(got.data);
      offset = got.offset;
      return got;
    };
    await step(2);
    r.emu.loseRegistration(600);
    await step(2);
    void r.emu.vanish(400);
    await step(2);
    r.emu.dropUrcs('recv', 2);
    r.emu.garbageBeforeNext('AT+QISEND');
    r.emu.delayNext('AT+QISEND', 300);
    const last = await step(100);
    expect(last.done).toBe(true);
    expect(Buffer.concat(parts).equals(h!.patch)).toBe(true);
    expect(dev.retransmissions).toBeGreaterThan(0);
    // The log tells the story of each fault.
    for (const msg of [
      'lost network registration (+CEREG); datagrams are refused until it is back',
      'network deactivated the PDP context (+QIURC: "pdpdeact"); re-attaching',
      'modem serial port lost; the bearer refuses datagrams until it is back',
      'ignored garbage bytes from the modem',
    ]) expect(r.logs.has(msg), msg).toBe(true);
    expect(r.logs.find('modem ready').length).toBeGreaterThanOrEqual(3);
    expect(r.emu.faults.fired).toEqual(expect.arrayContaining(['drop-urc recv', expect.stringMatching(/^delay AT\+QISEND/)]));
    const rep = await dev.report('applied', [[4, Buffer.from(h!.patchId, 'hex')], [5, h!.patch.length]]);
    expect(rep.code).toBe('2.04');
  }));

  it('libcoap coap-client-notls downloads the patch byte-exact through the modem, over line noise and a late answer', async () => {
    const { patchPath } = await setup('bg96');
    rig!.emu.garbageBeforeNext('AT+QISEND', 3);
    rig!.emu.delayNext('AT+QISEND', 400);
    const out = join(h!.dir, 'via-modem.bin');
    const modemPort = rig!.emu.socketAddress(0)!.port;
    try {
      await promisify(execFile)('coap-client-notls', ['-B', '30', '-m', 'get', '-b', '1024', '-o', out, `coap://127.0.0.1:${modemPort}/${patchPath}`], { timeout: 40_000 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('coap-client-notls not found: install Debian package libcoap3-bin');
      throw err;
    }
    expect(readFileSync(out).equals(h!.patch)).toBe(true);
    expect(rig!.emu.faults.fired.filter((f) => f.startsWith('garbage-before'))).toHaveLength(3);
  });

  it('BC66: downloads in 256-byte blocks through a per-peer socket and resumes after coverage loss', async () => {
    const { dev, patchPath, szx } = await setup('bc66');
    const first = await dev.download(patchPath, { szx, stopAfterBlocks: 6 });
    rig!.emu.loseRegistration(500);
    rig!.emu.dropUrcs('recv', 1);
    const rest = await dev.download(patchPath, { szx, offset: first.offset });
    expect(rest.done).toBe(true);
    expect(Buffer.concat([first.data, rest.data]).equals(h!.patch)).toBe(true);
    expect(rig!.logs.has('modem closed a socket (+QIURC: "closed"); reopening')).toBe(true);
  });
});
