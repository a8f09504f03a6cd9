import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../helpers/corpus.ts';
import { applyWithDetools } from '../helpers/detools.ts';
import { cli, curl, run, startHttpGateway, type HttpGateway } from './http-harness.ts';

const OLD = readCorpus('wled-esp32/0.14.3.bin');
const NEW = readCorpus('wled-esp32/0.14.4.bin');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** What esp_partition_get_sha256() returns for a running app: the appended digest when the image has one. */
const partitionSha = (b: Buffer) => (b[23] === 1 ? b.subarray(b.length - 32).toString('hex') : sha256(b));

const MAC = (n: number) => `24:0A:C4:00:00:${n.toString(16).padStart(2, '0').toUpperCase()}`;
const DEVICES = ['ard-1', 'ota-1', 'ota-2', 'ota-3', 'ota-4', 'ard-8266', 'dota-1'].map((id, i) => ({ id, product: 'wled', mac: MAC(i + 1) }));

function arduinoHeaders(mac: string, image: Buffer, extra: Record<string, string> = {}): string[] {
  const h: Record<string, string> = {
    'User-Agent': 'ESP32-http-Update',
    'x-ESP32-STA-MAC': mac,
    'x-ESP32-AP-MAC': mac.replace(/..$/, 'FF'),
    'x-ESP32-free-space': '1966080',
    'x-ESP32-sketch-size': String(image.length),
    'x-ESP32-sketch-md5': md5(image),
    'x-ESP32-sketch-sha256': partitionSha(image).toUpperCase(),
    'x-ESP32-chip-size': '4194304',
    'x-ESP32-sdk-version': 'v4.4.7',
    'x-ESP32-mode': 'sketch',
    ...extra,
  };
  return Object.entries(h).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
}

describe('stock ESP32 clients over HTTPS against the real daemon (curl, wget)', () => {
  let gw: HttpGateway;
  const memberState = (device: string, rollout = 'wled-0144') =>
    (gw.readDb().prepare('SELECT state FROM rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rollout, device) as { state: string } | undefined)?.state;
  const transfer = (device: string) => gw.readDb().prepare('SELECT offset, bytes_served AS served, state, bearer FROM transfers WHERE device_id = ? AND patch_id = ?').get(device, sha256(NEW)) as
    | { offset: number; served: number; state: string; bearer: string }
    | undefined;
  async function eventually<T>(f: () => T | undefined, what: string): Promise<T> {
    for (let i = 0; i < 100; i++) {
      const v = f();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  beforeAll(async () => {
    gw = await startHttpGateway({
      releases: [
        { file: 'wled-esp32/0.14.3.bin', product: 'wled', version: '0.14.3' },
        { file: 'wled-esp32/0.14.4.bin', product: 'wled', version: '0.14.4' },
        { file: 'nerdminer-tdisplay-s3/1.6.0.bin', product: 'nerdminer', version: '1.6.0' },
        { file: 'nerdminer-tdisplay-s3/1.6.1.bin', product: 'nerdminer', version: '1.6.1' },
      ],
      devices: [...DEVICES, { id: 'miner-1', product: 'nerdminer', mac: MAC(0x20) }],
      rollouts: [
        { id: 'wled-0144', yaml: 'release: { product: wled, version: 0.14.4 }\nwaves:\n  - { size: rest }\nhalt: { minFinished: 100 }\n' },
        { id: 'miner-161', yaml: 'release: { product: nerdminer, version: 1.6.1 }\nwaves:\n  - { size: rest }\nwindows:\n  timezone: UTC\n  deny: [{ from: "00:00", to: "00:00", reason: harvest }]\n' },
      ],
      http: 'maxConnectionsPerAddress: 6, headersTimeoutMs: 1000, maxHeaderBytes: 4096',
    });
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
  });

  it('refuses a client without the gateway CA and serves one that pins it (curl --cacert)', async () => {
    const bare = await run('curl', ['-sS', '-o', '/dev/null', `${gw.base}/update`]);
    expect(bare.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
    expect(bare.stderr).toMatch(/self-signed certificate|certificate/i);
    const pinned = await curl(gw, '/update', ['-o', '/dev/null']);
    expect(pinned.code).toBe(0);
    expect(pinned.status).toBe(400); // TLS passed; the request lacks the HTTPUpdate headers
  });

  it('HTTPUpdate: 200 with x-MD5 and Content-Length and the byte-exact image, then 304 once the device runs it, and the rollout counts it', async () => {
    const mac = MAC(1);
    const small = await curl(gw, '/update', ['-o', '/dev/null', ...arduinoHeaders(mac, OLD, { 'x-ESP32-free-space': '65536' })]);
    expect(small.status).toBe(304); // would not fit the OTA slot the device reports
    const out = join(gw.dir, 'ard-1.bin');
    const r = await curl(gw, '/update', ['-o', out, ...arduinoHeaders(mac, OLD)]);
    expect(r.status).toBe(200);
    expect(r.headers['x-md5']).toBe(md5(NEW));
    expect(Number(r.headers['content-length'])).toBe(NEW.length);
    expect(r.headers.etag).toBe(`"${sha256(NEW)}"`);
    expect(readFileSync(out).equals(NEW)).toBe(true);
    expect(memberState('ard-1')).toBe('downloading');
    const after = await curl(gw, '/update', ['-o', '/dev/null', ...arduinoHeaders(mac, NEW)]);
    expect(after.status).toBe(304);
    expect(memberState('ard-1')).toBe('succeeded');
    const row = await eventually(() => (transfer('ard-1')?.state === 'completed' ? transfer('ard-1') : undefined), 'the completed transfer row');
    expect(row).toMatchObject({ offset: NEW.length, bearer: 'http' });
    expect(row.served).toBeGreaterThanOrEqual(NEW.length);
  });

  it('HTTPUpdate: the ESP8266 header set is understood; a forged MAC gets 403 and nothing is stored; wrong headers get 400 naming them', async () => {
    const devicesBefore = gw.readDb().prepare('SELECT count(*) AS n FROM devices').get() as { n: number };
    const h8266 = ['-H', 'User-Agent: ESP8266-http-Update', '-H', `x-ESP8266-STA-MAC: ${MAC(6).toLowerCase()}`, '-H', `x-ESP8266-sketch-md5: ${md5(NEW)}`, '-H', 'x-ESP8266-mode: sketch'];
    expect((await curl(gw, '/update', ['-o', '/dev/null', ...h8266])).status).toBe(304);
    const forged = await curl(gw, '/update', arduinoHeaders('DE:AD:BE:EF:00:01', OLD));
    expect(forged.status).toBe(403);
    expect(forged.stdout).toMatch(/MAC DE:AD:BE:EF:00:01 is not enrolled/);
    expect(gw.readDb().prepare('SELECT count(*) AS n FROM devices').get()).toEqual(devicesBefore);
    expect(gw.readDb().prepare('SELECT id FROM devices WHERE mac = ?').get('DE:AD:BE:EF:00:01')).toBeUndefined();
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ 'x-ESP32-STA-MAC': 'not-a-mac' }, /x-ESP32-STA-MAC must be one MAC/],
      [{ 'x-ESP32-sketch-md5': 'xyz' }, /x-ESP32-sketch-md5 must be 32 hex digits/],
      [{ 'x-ESP32-free-space': '-5' }, /x-ESP32-free-space must be an unsigned decimal/],
      [{ 'x-ESP32-mode': 'bootloader' }, /x-ESP32-mode must be sketch or spiffs/],
    ];
    for (const [extra, msg] of bad) {
      const res = await curl(gw, '/update', arduinoHeaders(MAC(1), OLD, extra));
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.stdout).toMatch(msg);
    }
    const noDigest = await curl(gw, '/update', ['-H', `x-ESP32-STA-MAC: ${MAC(1)}`]);
    expect(noDigest.status).toBe(400);
    expect(noDigest.stdout).toMatch(/cannot tell what the device runs/);
    expect((await curl(gw, '/update', ['-X', 'POST', ...arduinoHeaders(MAC(1), OLD)])).headers.allow).toBe('GET, HEAD');
    expect(gw.readDb().prepare('SELECT running_sha256 AS s FROM devices WHERE id = ?').get('ard-1')).toEqual({ s: sha256(NEW) });
  });

  it('esp_https_ota: a download killed half-way resumes with Range (curl -C -) to the byte-exact image; the next request on the new image is success', async () => {
    const url = `${gw.tokens.get('ota-1')}?sha256=${partitionSha(OLD)}`;
    const head = await curl(gw, url, ['-I']);
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(NEW.length);
    expect(head.headers['accept-ranges']).toBe('bytes');
    const out = join(gw.dir, 'ota-1.bin');
    // The client dies after 300,000 bytes (its reader went away: curl exits with a write error, 23).
    const killed = await run('sh', ['-c', `curl -sS --cacert '${gw.ca}' '${gw.base}${url}' | head -c 300000 > '${out}'`]);
    expect(killed.code).toBe(0);
    const got = readFileSync(out).length;
    expect(got).toBe(300_000);
    expect(got).toBeLessThan(NEW.length);
    const resumed = await curl(gw, url, ['-C', '-', '-o', out]);
    expect(resumed.status).toBe(206);
    expect(resumed.headers['content-range']).toBe(`bytes ${got}-${NEW.length - 1}/${NEW.length}`);
    expect(readFileSync(out).equals(NEW)).toBe(true);
    const row = await eventually(() => (transfer('ota-1')?.state === 'completed' ? transfer('ota-1') : undefined), 'completed transfer');
    expect(row.offset).toBe(NEW.length);
    const done = await curl(gw, `${gw.tokens.get('ota-1')}?sha256=${partitionSha(NEW)}`, ['-o', '/dev/null']);
    expect(done.status).toBe(304);
    expect(memberState('ota-1')).toBe('succeeded');
  });

  it('esp_https_ota: wget -c continues a partial file from its length', async () => {
    const out = join(gw.dir, 'ota-2.bin');
    writeFileSync(out, NEW.subarray(0, 300_000));
    const r = await run('wget', ['-q', '-c', '--ca-certificate', gw.ca, '-O', out, `${gw.base}${gw.tokens.get('ota-2')}?md5=${md5(OLD)}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(NEW)).toBe(true);
    const line = await gw.daemon.waitFor((l) => l.msg === 'sending image' && l.deviceId === 'ota-2');
    expect(line).toMatchObject({ status: 206, start: 300_000, end: NEW.length - 1 });
  });

  it('esp_https_ota: 416 with bytes */len past the end, whole image for several ranges or a changed If-Range, 206 for a matching one', async () => {
    const url = `${gw.tokens.get('ota-3')}?version=0.14.3`;
    const past = await curl(gw, url, ['-r', `${NEW.length}-`]);
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${NEW.length}`);
    const multi = await curl(gw, url, ['-r', '0-99,200-299', '-o', join(gw.dir, 'multi.bin')]);
    expect(multi.status).toBe(200);
    expect(readFileSync(join(gw.dir, 'multi.bin')).equals(NEW)).toBe(true);
    const changed = await curl(gw, url, ['-r', '1000-', '-H', 'If-Range: "0000"', '-o', join(gw.dir, 'restart.bin')]);
    expect(changed.status).toBe(200); // the image changed under the client: start over
    expect(readFileSync(join(gw.dir, 'restart.bin')).equals(NEW)).toBe(true);
    const same = await curl(gw, url, ['-r', '1000-1099', '-H', `If-Range: "${sha256(NEW)}"`, '-o', join(gw.dir, 'same.bin')]);
    expect(same.status).toBe(206);
    expect(readFileSync(join(gw.dir, 'same.bin')).equals(NEW.subarray(1000, 1100))).toBe(true);
    expect((await curl(gw, '/ota/AAAAAAAAAAAAAAAAAAAAAA?version=1', [])).status).toBe(404);
    const noClaim = await curl(gw, gw.tokens.get('ota-3')!, []);
    expect(noClaim.status).toBe(400);
    expect(noClaim.stdout).toMatch(/say what the device runs/);
    expect((await curl(gw, `${gw.tokens.get('ota-3')}?sha256=zz`, [])).status).toBe(400);
  });

  it('POST status: {"status": "success"} is the booted report, "failed" fails the member; wrong type, JSON or size are refused', async () => {
    const post = (token: string, body: string, type = 'application/json') => curl(gw, `/status/${token.split('/').pop()}`, ['-X', 'POST', '-H', `Content-Type: ${type}`, '--data-binary', body]);
    const t3 = gw.tokens.get('ota-3')!;
    expect((await post(t3, '{"status":"success","version":"0.14.4"}')).status).toBe(204);
    expect(memberState('ota-3')).toBe('succeeded');
    // ota-4 has an offer under way, then says the flash failed
    expect((await curl(gw, `${gw.tokens.get('ota-4')}?version=0.14.3`, ['-r', '0-9', '-o', '/dev/null'])).status).toBe(206);
    expect((await post(gw.tokens.get('ota-4')!, '{"status":"failed","reason":"flash write error"}')).status).toBe(204);
    expect(memberState('ota-4')).toBe('failed');
    const refusals: Array<[string, string, number, RegExp]> = [
      ['{"status":"success"}', 'text/plain', 415, /application\/json/],
      ['{"status":', 'application/json', 400, /not JSON/],
      ['{"status":"exploded"}', 'application/json', 400, /"status" must be one of/],
      ['[1,2]', 'application/json', 400, /JSON object/],
      [JSON.stringify({ status: 'ok', reason: 'x'.repeat(2000) }), 'application/json', 413, /larger than 1024 bytes/],
    ];
    for (const [body, type, status, msg] of refusals) {
      const r = await post(t3, body, type);
      expect(r.status, body.slice(0, 30)).toBe(status);
      expect(r.stdout).toMatch(msg);
    }
    expect(memberState('ota-3')).toBe('succeeded');
    expect((await post('AAAAAAAAAAAAAAAAAAAAAA', '{"status":"failed"}')).status).toBe(404);
  });

  it('a closed maintenance window is 304 with Retry-After for HTTPUpdate and 503 with Retry-After for esp_https_ota', async () => {
    const miner = readCorpus('nerdminer-tdisplay-s3/1.6.0.bin');
    const a = await curl(gw, '/update', ['-o', '/dev/null', ...arduinoHeaders(MAC(0x20), miner)]);
    expect(a.status).toBe(304);
    expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
    const token = (gw.readDb().prepare('SELECT http_token AS t FROM devices WHERE id = ?').get('miner-1') as { t: string }).t;
    const o = await curl(gw, `/ota/${token}?md5=${md5(miner)}`, []);
    expect(o.status).toBe(503);
    expect(o.stdout).toMatch(/harvest/);
    expect(Number(o.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('esp_delta_ota: 503 while the patch is built, then a detools patch behind the 64-byte header, resumed after a kill, applied byte-exact by detools C; 409 for an unknown base', async () => {
    const delta = gw.tokens.get('dota-1')!.replace('/ota/', '/delta/');
    const url = `${delta}?sha256=${partitionSha(OLD)}`;
    const first = await curl(gw, url, []);
    expect(first.status).toBe(503);
    expect(Number(first.headers['retry-after'])).toBeGreaterThan(0);
    await gw.daemon.waitForMsg('esp_delta_ota patch ready', 60_000);
    const out = join(gw.dir, 'dota-1.patch');
    await run('sh', ['-c', `curl -sS --cacert '${gw.ca}' '${gw.base}${url}' | head -c 20000 > '${out}'`]);
    expect(readFileSync(out).length).toBe(20_000);
    const rest = await curl(gw, url, ['-C', '-', '-o', out]);
    expect(rest.status).toBe(206);
    const file = readFileSync(out);
    expect(Number(rest.headers['content-range']?.split('/')[1])).toBe(file.length);
    expect(file.readUInt32LE(0)).toBe(0xfccdde10);
    expect(file.subarray(4, 36).toString('hex')).toBe(partitionSha(OLD)); // what the device checks before applying
    expect(file.length).toBeLessThan(NEW.length / 4);
    expect(applyWithDetools(OLD, file.subarray(64), gw.dir).equals(NEW)).toBe(true);
    const listed = JSON.parse(await cli(['-c', gw.config, 'http', 'patches', '--json'])) as Array<{ fromSha256: string; toSha256: string; codec: string; size: number }>;
    expect(listed).toEqual([expect.objectContaining({ fromSha256: sha256(OLD), toSha256: sha256(NEW), codec: 'detools-heatshrink-w8-l7', size: file.length })]);
    expect(await cli(['-c', gw.config, 'http', 'patches'])).toMatch(/wled 0\.14\.3\s+wled 0\.14\.4\s+detools-heatshrink-w8-l7/);
    const unknown = await curl(gw, `${delta}?sha256=${'ab'.repeat(32)}`, []);
    expect(unknown.status).toBe(409);
    expect(unknown.stdout).toMatch(/no base for a patch/);
    expect((await curl(gw, `${delta}?sha256=${partitionSha(NEW)}`, [])).status).toBe(304);
    expect(memberState('dota-1')).toBe('succeeded');
  }, 90_000);

  it('huge headers get 431, a slow request head 408, connections above the per-address limit are closed, a client leaving mid-body is logged; the daemon serves on', async () => {
    const big = await curl(gw, '/update', ['-H', `X-Padding: ${'a'.repeat(6000)}`]);
    expect(big.status).toBe(431);

    const open = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: readFileSync(gw.ca) }, () => resolve(s));
        s.once('error', reject);
      });
    const slow = await open();
    slow.write('GET /update HTTP/1.1\r\nHost: gw\r\nx-ESP32-STA-MAC: ');
    const answer = await new Promise<string>((resolve) => {
      let buf = '';
      slow.on('data', (d) => (buf += d.toString()));
      slow.on('close', () => resolve(buf));
      slow.on('error', () => undefined);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);

    const held = await Promise.all(Array.from({ length: 6 }, () => open()));
    await expect(open()).rejects.toThrow();
    await gw.daemon.waitForMsg('connection refused: too many open connections from this address');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));

    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: gw.port, path: `${gw.tokens.get('ota-2')}?md5=${md5(OLD)}`, ca: readFileSync(gw.ca) }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.once('error', reject);
      req.end();
    });
    await gw.daemon.waitFor((l) => l.msg === 'client went away mid-body; it can resume with Range' && l.deviceId === 'ota-2');
    const whole = await curl(gw, `${gw.tokens.get('ota-2')}?md5=${md5(OLD)}`, ['-o', join(gw.dir, 'after.bin')]);
    expect(whole.status).toBe(200);
    expect(readFileSync(join(gw.dir, 'after.bin')).equals(NEW)).toBe(true);
    expect(gw.daemon.proc.exitCode).toBeNull();
  });
});
