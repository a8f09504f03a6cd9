import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxPayload } from '../../src/bearer/lora/regional.ts';
import { SchcCompressor } from '../../src/bearer/lora/schc/compressor.ts';
import { describeGatewayKey } from '../../src/manifest/gateway-key.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator, type DeviceApp } from '../helpers/chirpstack-emulator.ts';
import { APP_ID, PORTS, startLoraGateway, type LoraGateway } from '../helpers/chirpstack-emulator-gateway.ts';
import { corpusPatch, type CorpusPatch } from '../helpers/chirpstack-emulator-patch.ts';
import { readCorpus } from '../helpers/corpus.ts';

const DEVICE_BIN = resolve(import.meta.dirname, '../../firmware/build/furrow-device');
const EUI = '70b3d57ed00c0001';

/** One LoRaWAN frame: SCHC rule (FPort - fPortBase), FRMPayload bytes, and the CoAP bytes it carries. */
interface Frame { rule: number; bytes: number; coap: number }

/**
 * The radio side of the C device: the simulator speaks CoAP over UDP to this bridge, which does what
 * the device's LoRaWAN stack would: SCHC-compresses each datagram (the furrow rules) and sends it as
 * an uplink on FPort fPortBase + RuleID through the emulated ChirpStack; downlinks come back the other
 * way. Every frame's rule and size is kept.
 */
class LoraRadioBridge implements DeviceApp {
  readonly up: Frame[] = [];
  readonly down: Frame[] = [];
  readonly errors: string[] = [];
  private readonly schc = new SchcCompressor();
  private readonly socket = dgram.createSocket('udp4');
  private device: { address: string; port: number } | undefined;

  constructor(private readonly emu: ChirpStackEmulator) {
    emu.addDevice(EUI, { dr: 0, app: this });
  }

  async start(): Promise<number> {
    this.socket.on('message', (data, rinfo) => {
      this.device = { address: rinfo.address, port: rinfo.port };
      const c = this.schc.compress(data, 'up');
      this.up.push({ rule: c.ruleId, bytes: c.data.length, coap: data.length });
      // the emulator throws for a frame longer than the data rate carries: that is a test failure
      this.emu.uplink(EUI, PORTS.fPortBase + c.ruleId, c.data).catch((err: Error) => this.errors.push(err.message));
    });
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    return this.socket.address().port;
  }

  onDownlink(fPort: number, data: Buffer): void {
    const rule = fPort - PORTS.fPortBase;
    try {
      const coap = this.schc.decompress({ ruleId: rule, data }, 'down');
      this.down.push({ rule, bytes: data.length, coap: coap.length });
      if (this.device) this.socket.send(coap, this.device.port, this.device.address);
    } catch (err) {
      this.errors.push(`downlink on FPort ${fPort}: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.socket.close();
  }
}

describe('the C device (furrow-device) at LoRaWAN DR0 through ChirpStack (emulated), SCHC-compressed', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let gw: LoraGateway;
  let cp: CorpusPatch;
  let bridge: LoraRadioBridge;
  let dir: string;
  let device: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    if (!existsSync(DEVICE_BIN)) throw new Error(`${DEVICE_BIN} is missing: build it with \`make -C firmware\` (npm test does this in pretest)`);
    cp = await corpusPatch();
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 5, rxWindowMs: 300 });
    await emu.start();
    gw = await startLoraGateway({ brokerUrl: broker.url, patch: cp.patch, baseSha256: cp.baseSha256, targetSha256: cp.targetSha256, devices: [{ id: 'c-probe-1', key: Buffer.alloc(32, 0x31) }] });
    bridge = new LoraRadioBridge(emu);
    dir = mkdtempSync(join(tmpdir(), 'furrow-lora-fw-'));
  });

  afterAll(async () => {
    if (device && device.exitCode === null) device.kill('SIGKILL');
    bridge?.stop();
    await gw?.stop();
    await emu?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('checks in, downloads the corpus patch, boots it and reports with every frame inside 51 bytes and none uncompressed', async () => {
    const port = await bridge.start();
    writeFileSync(join(dir, 'key.hex'), Buffer.alloc(32, 0x31).toString('hex'));
    writeFileSync(join(dir, 'gw.pem'), describeGatewayKey(gw.coap.gatewayKey).pem);
    writeFileSync(join(dir, 'base.bin'), readCorpus('wled-esp32/0.14.3.bin'));
    mkdirSync(join(dir, 'flash'));
    const p = spawn(
      DEVICE_BIN,
      ['--server', `127.0.0.1:${port}`, '--device-id', 'c-probe-1', '--key-file', join(dir, 'key.hex'), '--product', gw.product, '--flash', join(dir, 'flash'),
        '--gateway-pub', join(dir, 'gw.pem'), '--allow-unsigned', '--image', join(dir, 'base.bin'), '--version', '0.14.3',
        '--max-payload', '32', '--ack-timeout-ms', '1000', '--max-sleep', '1', '--max-wakes', '5'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    device = p;
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    expect(code, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/"event":"confirmed"/);
    expect(out).toMatch(/"event":"reported","detail":"booted"/);
    expect(bridge.errors).toEqual([]);
    expect(emu.stats.oversize).toBe(0);
    expect(gw.db.prepare('SELECT running_sha256, last_result FROM devices WHERE id = ?').get('c-probe-1')).toEqual({ running_sha256: cp.targetSha256, last_result: 'ok' });

    const max = maxPayload(0);
    expect(Math.max(...bridge.up.map((f) => f.bytes))).toBeLessThanOrEqual(max);
    expect(Math.max(...bridge.down.map((f) => f.bytes))).toBeLessThanOrEqual(max);
    // every message of the exchange matched a SCHC rule: nothing went as raw CoAP under rule 0
    expect(bridge.up.filter((f) => f.rule === 0)).toEqual([]);
    expect(bridge.down.filter((f) => f.rule === 0)).toEqual([]);
    const rules = (fs: Frame[]) => [...new Set(fs.map((f) => f.rule))].sort((a, b) => a - b);
    // up: Block1 body blocks (12), answer-block fetches (13), manifest/patch GETs (2, 3)
    expect(rules(bridge.up)).toEqual(expect.arrayContaining([2, 3, 12, 13]));
    // down: 2.31 (15), first answer block (16), later ones (17), 2.04 to the report (19),
    // the one-block "nothing to do" answer (20), patch/manifest blocks (10, 11)
    expect(rules(bridge.down)).toEqual(expect.arrayContaining([10, 11, 15, 16, 17, 19, 20]));
    expect(bridge.up.filter((f) => f.rule === 12).length).toBeGreaterThan(6); // two check-ins and a report, 3+ blocks each
    expect(bridge.down.filter((f) => f.rule === 10 || f.rule === 11).length).toBeGreaterThanOrEqual(Math.ceil(cp.patch.length / 32));
    // what the block-wise rules save: a full 32-byte Block1 block is 39 bytes on air instead of 46
    const blockwise = [...bridge.up.filter((f) => f.rule >= 12), ...bridge.down.filter((f) => f.rule >= 12)];
    const full = bridge.up.filter((f) => f.rule === 12 && f.coap === 46);
    expect(full.length).toBeGreaterThan(0);
    expect(full.every((f) => f.bytes === 39)).toBe(true);
    const sum = (fs: Frame[], k: 'bytes' | 'coap') => fs.reduce((a, f) => a + f[k], 0);
    expect(sum(blockwise, 'bytes')).toBeLessThan(sum(blockwise, 'coap'));
    console.log(`block-wise POST frames: ${blockwise.length}, ${sum(blockwise, 'bytes')} B on air (SCHC) vs ${sum(blockwise, 'coap')} B of CoAP; all frames up ${bridge.up.length} (${sum(bridge.up, 'bytes')} B vs ${sum(bridge.up, 'coap')}), down ${bridge.down.length} (${sum(bridge.down, 'bytes')} B vs ${sum(bridge.down, 'coap')})`);
  });
});
