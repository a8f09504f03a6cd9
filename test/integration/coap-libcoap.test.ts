import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDevice } from './coap-device.ts';
import { startHarness, type Harness } from './coap-harness.ts';

const exec = promisify(execFile);

/** libcoap's client from Debian libcoap3-bin, run asynchronously (the server lives in this process). */
async function coapClient(args: string[]): Promise<{ stdout: Buffer; stderr: string }> {
  try {
    const r = await exec('coap-client-notls', ['-B', '20', ...args], { encoding: 'buffer', timeout: 30_000 });
    return { stdout: r.stdout, stderr: r.stderr.toString() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('coap-client-notls not found: install Debian package libcoap3-bin');
    throw err;
  }
}

describe('libcoap coap-client-notls against the furrow CoAP server', () => {
  let h: Harness;
  let patchPath: string;
  let manifestPath: string;

  beforeAll(async () => {
    h = await startHarness({ patchSize: 50_003 });
    // The patch URI is per device: a check-in by the device obtains it, as a real device would.
    const dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey });
    await dev.open();
    const { reply, map } = await dev.checkin(h.baseSha256, h.product);
    dev.close();
    expect(reply.code).toBe('2.05');
    expect(map.get(1)).toBe(2);
    patchPath = map.get(4) as string;
    manifestPath = map.get(3) as string;
  });
  afterAll(async () => h?.stop(true));

  for (const size of [64, 256, 1024]) {
    it(`downloads the patch byte-exact with -b ${size}`, async () => {
      const out = join(h.dir, `out-${size}.bin`);
      await coapClient(['-m', 'get', '-b', String(size), '-o', out, `coap://127.0.0.1:${h.port}/${patchPath}`]);
      const got = readFileSync(out);
      expect(got.length).toBe(h.patch.length);
      expect(got.equals(h.patch)).toBe(true);
    });
  }

  it('serves single blocks from the middle that equal the patch bytes at that offset', async () => {
    for (const [num, size] of [[17, 256], [5, 1024], [401, 64], [48, 1024]] as const) {
      const out = join(h.dir, `blk-${num}-${size}.bin`);
      await coapClient(['-m', 'get', '-b', `${num},${size}`, '-o', out, `coap://127.0.0.1:${h.port}/${patchPath}`]);
      const got = readFileSync(out);
      // libcoap with -b num,size fetches exactly that one block; the last one (48 × 1024) is short.
      const want = h.patch.subarray(num * size, num * size + size);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
    }
  });

  it('lists the resources in /.well-known/core (RFC 6690)', async () => {
    const { stdout } = await coapClient(['-m', 'get', `coap://127.0.0.1:${h.port}/.well-known/core`]);
    const links = stdout.toString().trim();
    expect(links).toContain('</c>;rt="furrow.checkin";ct=60');
    expect(links).toContain('</m>;rt="furrow.manifest";ct=18');
    expect(links).toContain('</p>;rt="furrow.patch";ct=42');
    expect(links).toContain('</r>;rt="furrow.report";ct=60');
  });

  it('downloads the signed manifest', async () => {
    const out = join(h.dir, 'manifest.cose');
    await coapClient(['-m', 'get', '-b', '64', '-o', out, `coap://127.0.0.1:${h.port}/${manifestPath}`]);
    const got = readFileSync(out);
    const stored = h.db.prepare('SELECT manifest FROM deliveries WHERE token = ?').get(manifestPath.slice(2)) as { manifest: Buffer };
    expect(got.equals(stored.manifest)).toBe(true);
  });

  it('answers 4.04 for a token nobody was given and 4.02 for a block past the end', async () => {
    const miss = await coapClient(['-m', 'get', `coap://127.0.0.1:${h.port}/p/AAAAAAAAAAAAAAAA`]);
    expect(miss.stderr + miss.stdout.toString()).toMatch(/4\.04|no such patch/);
    const past = await coapClient(['-m', 'get', '-b', '1000,1024', `coap://127.0.0.1:${h.port}/${patchPath}`]);
    expect(past.stderr + past.stdout.toString()).toMatch(/4\.02|past the end/);
  });
});
