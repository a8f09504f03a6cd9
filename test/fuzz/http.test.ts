/**
 * Malformed and abusive HTTP against the real daemon while a device downloads: mutated requests on raw
 * sockets (plain HTTP port, the same parser and routes as HTTPS) and slowloris sockets over TLS. The
 * daemon must answer each with a 4xx (never a 500) or drop it, the download must arrive byte-exact, and
 * no stored device changes. FURROW_TORTURE_LONG=1: 10,000 requests and 1,000 slow sockets.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../helpers/corpus.ts';
import { startHttpGateway, type HttpGateway } from '../integration/http-harness.ts';
import { iterations } from '../reliability/settings.ts';
import { applyMutations, mutationArb } from './harness.ts';

const REQUESTS = iterations('FURROW_HTTP_FUZZ_REQUESTS', 1500, 10_000);
const SLOW = iterations('FURROW_HTTP_SLOWLORIS', 150, 1000);
const OLD = readCorpus('wled-esp32/0.14.3.bin');
const NEW = readCorpus('wled-esp32/0.14.4.bin');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

const SAMPLES = [
  `GET /update HTTP/1.1\r\nHost: gw\r\nUser-Agent: ESP32-http-Update\r\nx-ESP32-STA-MAC: DE:AD:BE:EF:00:01\r\nx-ESP32-sketch-md5: ${md5(OLD)}\r\nx-ESP32-free-space: 1966080\r\nx-ESP32-mode: sketch\r\n\r\n`,
  'GET /ota/AAAAAAAAAAAAAAAAAAAAAA?sha256=00 HTTP/1.1\r\nHost: gw\r\nRange: bytes=0-99,5-1\r\nIf-Range: "x"\r\n\r\n',
  'POST /status/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"status":"success"}',
  'GET /delta/%zz HTTP/1.0\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'));

/** Sends raw bytes, half-closes, and returns the status line's code (0 = dropped without an answer). */
function raw(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    let buf = '';
    const done = () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf)?.[1] ?? 0));
    s.setTimeout(15_000, () => s.destroy());
    s.on('data', (d) => {
      if (buf.length < 64) buf += d.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', done);
    s.on('connect', () => s.end(bytes));
  });
}

describe(`abusive HTTP while a download runs (${REQUESTS} malformed requests, ${SLOW} slowloris sockets)`, () => {
  let gw: HttpGateway;
  beforeAll(async () => {
    gw = await startHttpGateway({
      releases: [
        { file: 'wled-esp32/0.14.3.bin', product: 'wled', version: '0.14.3' },
        { file: 'wled-esp32/0.14.4.bin', product: 'wled', version: '0.14.4' },
      ],
      devices: [{ id: 'ota-1', product: 'wled', mac: '24:0A:C4:00:00:01' }],
      rollouts: [{ id: 'r', yaml: 'release: { product: wled, version: 0.14.4 }\nwaves:\n  - { size: rest }\n' }],
      http: `plainPort: 0, maxConnectionsPerAddress: ${SLOW + 100}, headersTimeoutMs: 2000`,
    });
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers every malformed request with a 4xx or drops it, never a 500; the download is byte-exact and no device row changes', async () => {
    const devicesBefore = gw.readDb().prepare('SELECT id, product, mac, http_token FROM devices ORDER BY id').all();
    // A slow reader: the download stays open while the abuse runs.
    const download = new Promise<Buffer>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: gw.port, path: `${gw.tokens.get('ota-1')}?md5=${md5(OLD)}`, ca: readFileSync(gw.ca) }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          res.pause();
          setTimeout(() => res.resume(), 15);
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

    const slow = Promise.all(
      Array.from({ length: SLOW }, () =>
        new Promise<string>((resolve) => {
          let buf = '';
          const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: readFileSync(gw.ca) }, () => s.write('GET /update HTTP/1.1\r\nHost: gw\r\nx-ESP32-STA-MAC: 24'));
          s.on('data', (d) => (buf += d.toString()));
          s.on('error', () => undefined);
          s.on('close', () => resolve(buf.slice(0, 12)));
        }),
      ),
    );

    const inputs = fc
      .sample(fc.tuple(fc.integer({ min: 0, max: SAMPLES.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 6 })), { numRuns: REQUESTS, seed: 17 })
      .map(([i, m]) => applyMutations(SAMPLES[i]!, m));
    inputs.push(Buffer.from(`GET /update HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), Buffer.from('\r\n\r\n\r\n'), Buffer.alloc(3000, 0xff));
    const counts = new Map<number, number>();
    const plain = gw.plainPort!;
    for (let i = 0; i < inputs.length; i += 25) {
      const codes = await Promise.all(inputs.slice(i, i + 25).map((b) => raw(plain, b)));
      for (const c of codes) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const bad = [...counts.keys()].filter((c) => c !== 0 && (c < 400 || c >= 500) && c !== 304);
    expect(bad, JSON.stringify(Object.fromEntries(counts))).toEqual([]);
    const slowAnswers = await slow;
    expect(slowAnswers.every((a) => a === '' || a.startsWith('HTTP/1.1 408'))).toBe(true);
    expect(slowAnswers.filter((a) => a.startsWith('HTTP/1.1 408')).length).toBeGreaterThan(SLOW / 2);
    const got = await download;
    expect(got.equals(NEW)).toBe(true);
    expect(gw.daemon.proc.exitCode).toBeNull();
    expect(gw.readDb().prepare('SELECT id, product, mac, http_token FROM devices ORDER BY id').all()).toEqual(devicesBefore);
    process.stdout.write(`http fuzz: ${inputs.length} requests, answers ${JSON.stringify(Object.fromEntries(counts))}; ${SLOW} slowloris sockets closed\n`);
  }, 300_000);
});
