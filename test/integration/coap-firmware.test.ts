import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UdpTransport } from '../../src/bearer/udp.ts';
import type { PeerAddress } from '../../src/bearer/types.ts';
import { decodeBlock } from '../../src/coap/block.ts';
import { code, Opt, POST } from '../../src/coap/codes.ts';
import { decodeMessage, option, type CoapMessage } from '../../src/coap/message.ts';
import { encodePatch } from '../../src/delta/index.ts';
import { describeGatewayKey } from '../../src/manifest/gateway-key.ts';
import { readCorpus } from '../helpers/corpus.ts';
import { startHarness, type Harness } from './coap-harness.ts';

const DEVICE_BIN = resolve(import.meta.dirname, '../../firmware/build/furrow-device');

/**
 * UDP with a LoRa-DR0-like limit per peer (DatagramTransport.maxPayloadFor = 32 bytes, what the
 * LoRa bearer says for a DR0-2 device): the CoAP server advises and serves 32-byte blocks. Every
 * datagram either way is kept, decoded, so the test can check what went over the air.
 */
class SmallFrameUdp extends UdpTransport {
  readonly up: CoapMessage[] = [];
  readonly down: CoapMessage[] = [];
  constructor(opts: { host: string; port: number }, readonly limit: number) {
    super(opts);
    this.onMessage((data) => void this.up.push(decodeMessage(data)));
  }
  maxPayloadFor(): number {
    return this.limit;
  }
  override send(data: Buffer, peer: PeerAddress): Promise<void> {
    this.down.push(decodeMessage(data));
    return super.send(data, peer);
  }
}

const pathOf = (m: CoapMessage) => m.options.filter((o) => o.number === Opt.UriPath).map((o) => o.value.toString()).join('/');
const block = (m: CoapMessage, n: number) => {
  const v = option(m, n);
  return v ? decodeBlock(v) : undefined;
};

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

  async function setup(transport?: (o: { host: string; port: number }) => UdpTransport): Promise<{ hh: Harness; run: (extra?: string[]) => Promise<{ code: number | null; out: string }> }> {
    const hh = await startHarness({ images, coap: { transfers: { flushEveryBlocks: 4 } }, ...(transport ? { transport } : {}) });
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

  it('checks in, downloads and reports block-wise when its datagrams carry only 32 payload bytes (LoRa DR0)', async () => {
    let udp: SmallFrameUdp | undefined;
    const { hh, run } = await setup((o) => (udp = new SmallFrameUdp(o, 32)));
    const { code: exit, out } = await run(['--max-payload', '32']);
    expect(exit, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/"event":"confirmed"/);
    expect(hh.db.prepare('SELECT running_sha256, last_result FROM devices WHERE id = ?').get(hh.deviceId)).toEqual({ running_sha256: hh.targetSha256, last_result: 'ok' });
    expect(transfer(hh)).toMatchObject({ state: 'completed' });
    const { up, down } = udp!;
    // no datagram either way carried more than 32 payload bytes
    expect(Math.max(...up.map((m) => m.payload.length))).toBeLessThanOrEqual(32);
    expect(Math.max(...down.map((m) => m.payload.length))).toBeLessThanOrEqual(32);
    for (const path of ['c', 'r']) {
      const posts = up.filter((m) => m.code === POST && pathOf(m) === path);
      // the envelope went up in Block1 blocks 0, 1, 2, ... (every one but the last full) ...
      const b1 = posts.map((m) => block(m, Opt.Block1)).filter((b) => b !== undefined);
      expect(b1.every((b) => b.szx === 1)).toBe(true);
      // one request body per run of blocks 0..k (check-in: before the update and after the report)
      const bodies: number[][] = [];
      for (const b of b1) {
        if (b.num === 0) bodies.push([]);
        const cur = bodies.at(-1)!;
        expect(b.num, `POST /${path}`).toBe(cur.length);
        cur.push(b.more ? 1 : 0);
      }
      expect(bodies.length, `POST /${path}`).toBe(path === 'c' ? 2 : 1);
      for (const more of bodies) {
        expect(more.length).toBeGreaterThan(2);
        expect(more).toEqual([...more.slice(0, -1).map(() => 1), 0]);
      }
    }
    // ... each but the last answered 2.31 Continue
    expect(down.filter((m) => m.code === code(2, 31)).length).toBe(up.filter((m) => block(m, Opt.Block1)?.more).length);
    // the check-in answer came back in 32-byte Block2 blocks, later ones asked for by POSTs with only Block2
    const fetches = up.filter((m) => m.code === POST && pathOf(m) === 'c' && !option(m, Opt.Block1) && block(m, Opt.Block2));
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    expect(fetches.every((m) => m.payload.length === 0)).toBe(true);
    expect(down.filter((m) => m.code === code(2, 5) && block(m, Opt.Block2) && option(m, Opt.ContentFormat)?.[0] === 60).length).toBe(fetches.length + 1);
    // manifest and patch in 32-byte blocks too
    const gets = up.filter((m) => m.code === 1);
    expect(gets.length).toBeGreaterThan(hh.patch.length / 32);
    expect(gets.every((m) => block(m, Opt.Block2)!.szx === 1)).toBe(true);
  });

  it('resumes a block-wise download after power cuts, checking in block-wise again each time', async () => {
    let udp: SmallFrameUdp | undefined;
    const { hh, run } = await setup((o) => (udp = new SmallFrameUdp(o, 32)));
    // cut 1 lands in the first check-in (its counter store or a flash op around it), the others mid-patch
    for (const cutAt of [1, 900, 2500]) {
      const r = await run(['--max-payload', '32', '--power-cut-after', String(cutAt)]);
      expect(r.out).toMatch(/"event":"power_cut"/);
    }
    expect(transfer(hh).state).toBe('active');
    const { code: exit, out } = await run(['--max-payload', '32']);
    expect(exit, out.slice(-2000)).toBe(0);
    const t = transfer(hh);
    expect(t).toMatchObject({ state: 'completed', offset: t.size });
    expect(t.bytes_served).toBeLessThan(1.2 * t.size);
    expect(hh.db.prepare('SELECT running_sha256 FROM devices WHERE id = ?').get(hh.deviceId)).toEqual({ running_sha256: hh.targetSha256 });
    expect(Math.max(...udp!.up.map((m) => m.payload.length), ...udp!.down.map((m) => m.payload.length))).toBeLessThanOrEqual(32);
    // every check-in after a restart went block-wise from block 0 and was answered
    const starts = udp!.up.filter((m) => pathOf(m) === 'c' && block(m, Opt.Block1)?.num === 0).length;
    expect(starts).toBeGreaterThanOrEqual(4);
  });
});
