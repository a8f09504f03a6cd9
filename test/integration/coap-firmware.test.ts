import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodePatch } from '../../src/delta/index.ts';
import { describeGatewayKey } from '../../src/manifest/gateway-key.ts';
import { readCorpus } from '../helpers/corpus.ts';
import { startHarness, type Harness } from './coap-harness.ts';

const DEVICE_BIN = resolve(import.meta.dirname, '../../firmware/build/furrow-device');

describe('the C device (furrow-device) against the CoAP service', () => {
  let h: Harness | undefined;
  let images: { base: Buffer; target: Buffer; patch: Buffer };
  beforeAll(async () => {
    if (!existsSync(DEVICE_BIN)) throw new Error(`${DEVICE_BIN} is missing: build it with \`make -C firmware\` (npm test does this in pretest)`);
    const base = readCorpus('wled-esp32/0.14.3.bin');
    const target = readCorpus('wled-esp32/0.14.4.bin');
    images = { base, target, patch: await encodePatch(base, target) };
  });
  afterEach(async () => {
    await h?.stop(true);
    h = undefined;
  });

  async function setup(): Promise<{ hh: Harness; run: (extra?: string[]) => Promise<{ code: number | null; out: string }> }> {
    const hh = await startHarness({ images, coap: { transfers: { flushEveryBlocks: 4 } } });
    h = hh;
    writeFileSync(join(hh.dir, 'key.hex'), hh.deviceKey.toString('hex'));
    writeFileSync(join(hh.dir, 'gw.pem'), describeGatewayKey(hh.service.gatewayKey).pem);
    writeFileSync(join(hh.dir, 'base.bin'), images.base);
    mkdirSync(join(hh.dir, 'flash'));
    const run = async (extra: string[] = []) => {
      const p = spawn(
        DEVICE_BIN,
        ['--server', `127.0.0.1:${hh.port}`, '--device-id', hh.deviceId, '--key-file', join(hh.dir, 'key.hex'), '--product', hh.product, '--flash', join(hh.dir, 'flash'),
          '--gateway-pub', join(hh.dir, 'gw.pem'), '--allow-unsigned', '--image', join(hh.dir, 'base.bin'), '--version', '1.0.0', '--ack-timeout-ms', '300', '--max-sleep', '1', '--max-wakes', '5', ...extra],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const code = await new Promise<number | null>((r) => p.on('exit', r));
      return { code, out };
    };
    return { hh, run };
  }

  const transfer = (hh: Harness) => hh.db.prepare('SELECT offset, size, bytes_served, state FROM transfers WHERE device_id = ?').get(hh.deviceId) as { offset: number; size: number; bytes_served: number; state: string };

  it('checks in, verifies the signed manifest, applies a corpus patch, boots it and reports', async () => {
    const { hh, run } = await setup();
    const events: string[] = [];
    hh.ctx.events.on('transfer.completed', 'test', () => void events.push('transfer.completed'));
    hh.ctx.events.on('device.report', 'test', (e) => void events.push(`report ${e.status}`));
    const { code, out } = await run();
    expect(code, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/"event":"confirmed"/);
    expect(hh.db.prepare('SELECT running_sha256, last_result FROM devices WHERE id = ?').get(hh.deviceId)).toEqual({ running_sha256: hh.targetSha256, last_result: 'ok' });
    const t = transfer(hh);
    expect(t.state).toBe('completed');
    expect(t.offset).toBe(t.size);
    expect(events).toEqual(['transfer.completed', 'report booted']);
  });

  it('resumes across device power cuts without starting the download over', async () => {
    const { hh, run } = await setup();
    for (const cutAt of [700, 1500]) {
      const r = await run(['--power-cut-after', String(cutAt)]);
      expect(r.out).toMatch(/"event":"power_cut"/);
    }
    const mid = transfer(hh);
    expect(mid.offset).toBeGreaterThan(0);
    expect(mid.state).toBe('active');
    const { code, out } = await run();
    expect(code, out.slice(-2000)).toBe(0);
    const t = transfer(hh);
    expect(t).toMatchObject({ state: 'completed', offset: t.size });
    // Re-asked blocks after each cut are few: far less than downloading the patch again.
    expect(t.bytes_served).toBeLessThan(1.5 * t.size);
    expect(hh.db.prepare('SELECT running_sha256 FROM devices WHERE id = ?').get(hh.deviceId)).toEqual({ running_sha256: hh.targetSha256 });
  });
});
