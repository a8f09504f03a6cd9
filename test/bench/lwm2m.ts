/**
 * bench:lwm2m — (1) one Object 5 update of a corpus image (WLED 0.14.4, 1.28 MB) by the Anjay 3.9.0 demo
 * through the real daemon: time from Package URI written to success, and UDP bytes on the wire both ways
 * (counted by a loss-free relay) against the package size; libcoap's coap-client-notls fetching the same
 * /fw resource over the same relay in the same run is the reference CoAP client. (2) 1,000 simulated
 * registrations (raw CoAP Register, 50 in flight) against the registration interface on real UDP and a
 * real SQLite file: registrations/s and RSS growth.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeMessage, encodeMessage, encodeUint } from '../../src/coap/message.ts';
import { CORPUS_IMAGES, readCorpus } from '../helpers/corpus.ts';
import type { ClientProcess } from '../helpers/lwm2m-clients.ts';
import { checkDownload, keepDownload, setupAnjayRollout } from '../helpers/lwm2m-daemon.ts';
import { startLwm2mHarness } from '../helpers/lwm2m-harness.ts';
import { LossyProxy } from '../helpers/lossy-proxy.ts';
import { tempDir } from '../helpers/tmp.ts';

const tmp = tempDir('furrow-bench-lwm2m-');
const image = CORPUS_IMAGES[1]!;
const rows: string[][] = [];
const mb = (n: number) => `${(n / 1e6).toFixed(3)} MB`;

async function objectFiveUpdate(): Promise<void> {
  const proxy = await LossyProxy.start(0, 0);
  const s = await setupAnjayRollout(tmp.dir, image, { packageUri: () => `coap://127.0.0.1:${proxy.port}` });
  proxy.serverPort = s.port;
  const daemon = await s.startDaemon();
  let anjay: ClientProcess | undefined;
  try {
    anjay = await s.startClient(proxy.port);
    await daemon.waitForMsg('LwM2M client identified');
    await s.applyRollout();
    const before = { ...proxy.stats };
    const uri = await daemon.waitForMsg('LwM2M Package URI written', 30_000);
    const t0 = performance.now();
    const kept = keepDownload(s.pkgPath, join(tmp.dir, 'downloaded.bin'), anjay);
    await daemon.waitForMsg('LwM2M firmware update succeeded', 300_000);
    const ms = performance.now() - t0;
    checkDownload(await kept, image);
    const up = proxy.stats.bytesUp - before.bytesUp;
    const down = proxy.stats.bytesDown - before.bytesDown;
    const pkg = (uri.bytes as number) ?? image.size + 16;
    rows.push(['Anjay demo, Object 5 pull (whole update)', mb(pkg), String(proxy.stats.up - before.up + proxy.stats.down - before.down), mb(up), mb(down), `${((100 * (up + down - pkg)) / pkg).toFixed(1)} %`, `${(ms / 1000).toFixed(2)} s`]);

    // Reference: libcoap's client fetches the same resource; the finished row is reopened for it.
    const db = new Database(join(tmp.dir, 'data', 'furrow.db'));
    db.prepare("UPDATE lwm2m_firmware SET phase = 'downloading' WHERE device_id = 'anjay-1'").run();
    db.close();
    const b2 = { ...proxy.stats };
    const t1 = performance.now();
    const out = join(tmp.dir, 'libcoap.bin');
    const code = await new Promise<number | null>((r) => spawn('coap-client-notls', ['-m', 'get', '-b', '1024', '-B', '120', '-o', out, String(uri.uri).replace(/:(\d+)\//, `:${proxy.port}/`)], { stdio: 'ignore' }).on('exit', r));
    const ms2 = performance.now() - t1;
    if (code !== 0) throw new Error(`coap-client-notls exited ${code}`);
    const got = (await import('node:fs')).readFileSync(out);
    if (got.length !== pkg || Buffer.compare(got.subarray(16), readCorpus(image.file)) !== 0) throw new Error('libcoap download differs from the package');
    const up2 = proxy.stats.bytesUp - b2.bytesUp;
    const down2 = proxy.stats.bytesDown - b2.bytesDown;
    rows.push(['libcoap coap-client-notls, Block2 GET only', mb(pkg), String(proxy.stats.up - b2.up + proxy.stats.down - b2.down), mb(up2), mb(down2), `${((100 * (up2 + down2 - pkg)) / pkg).toFixed(1)} %`, `${(ms2 / 1000).toFixed(2)} s`]);
  } finally {
    await anjay?.stop();
    await daemon.stop(5_000);
    proxy.close();
  }
}

async function registrations(n: number): Promise<void> {
  const endpoints = Object.fromEntries(Array.from({ length: n }, (_, i) => [`sim-${i}`, { product: 'p' }]));
  const h = await startLwm2mHarness({ endpoints });
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, () => void>();
  let created = 0;
  sock.on('message', (b) => {
    const m = decodeMessage(b);
    if (m.code === 0x41) created++;
    pending.get(m.messageId)?.();
    pending.delete(m.messageId);
  });
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const msg = encodeMessage({
        type: 'CON', code: 2, messageId: i + 1, token: Buffer.from([i & 0xff, i >> 8]),
        options: [{ number: 11, value: Buffer.from('rd') }, { number: 12, value: encodeUint(40) }, { number: 15, value: Buffer.from(`ep=sim-${i}`) }, { number: 15, value: Buffer.from('lt=3600') }, { number: 15, value: Buffer.from('lwm2m=1.1') }],
        payload: Buffer.from('</>;rt="oma.lwm2m",</1/0>,</3/0>,</5/0>'),
      });
      await new Promise<void>((r) => {
        pending.set(i + 1, r);
        sock.send(msg, h.port, '127.0.0.1');
      });
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  const ms = performance.now() - t0;
  const rss1 = process.memoryUsage().rss;
  const stored = h.repo.list().length;
  sock.close();
  await h.stop();
  if (created !== n || stored !== n) throw new Error(`${created} of ${n} registrations created, ${stored} stored`);
  console.log(`\n${n} registrations (one socket, 50 in flight, SQLite file): ${(n / (ms / 1000)).toFixed(0)} registrations/s, ${ms.toFixed(0)} ms; RSS ${mb(rss0)} -> ${mb(rss1)} (+${((rss1 - rss0) / 1e6).toFixed(1)} MB)`);
}

try {
  await objectFiveUpdate();
  const head = ['client', 'package', 'datagrams', 'bytes up', 'bytes down', 'overhead', 'time'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  console.log(`\nOne Object 5 update of ${image.file} (${image.size} B image) over loopback UDP, bytes are UDP payloads`);
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  await registrations(1000);
} finally {
  tmp.cleanup();
}
