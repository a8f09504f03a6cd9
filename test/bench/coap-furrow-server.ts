/**
 * The furrow side of bench:coap as its own process: a CoapService on a real UDP socket with a real
 * SQLite file, N provisioned devices that each check in once (so each download uses its own
 * per-device URI). Prints {"port", "paths"} as one JSON line, then serves until SIGTERM.
 * argv: <base.bin> <target.bin> <patch.bin> <devices>
 */
import { readFileSync } from 'node:fs';
import { TestDevice } from '../integration/coap-device.ts';
import { startHarness } from '../integration/coap-harness.ts';

const [baseFile, targetFile, patchFile, n] = process.argv.slice(2);
const devices = Number(n);
const h = await startHarness({
  images: { base: readFileSync(baseFile!), target: readFileSync(targetFile!), patch: readFileSync(patchFile!) },
  devices,
  // The bench measures serving, not the per-peer limit: every load client is one fast peer.
  coap: { rateLimit: { perSecond: 100_000, burst: 100_000 }, progressIntervalMs: 2000 },
});
const paths: string[] = [];
for (let i = 0; i < devices; i++) {
  const d = new TestDevice({ port: h.port, id: i === 0 ? h.deviceId : `probe-${i + 1}`, key: h.deviceKey });
  await d.open();
  const { map } = await d.checkin(h.baseSha256, h.product);
  d.close();
  if (map.get(1) !== 2) throw new Error(`device ${i} got no update offer`);
  paths.push(map.get(4) as string);
}
process.stdout.write(JSON.stringify({ port: h.port, paths, size: h.patch.length }) + '\n');
// The bench asks for memory after a full GC (node --expose-gc): RSS alone mostly shows V8's lazy GC.
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const s = h.service;
  process.stdout.write(JSON.stringify({ heapUsed: mem.heapUsed, rss: mem.rss, transfersCached: s.transferStore?.cached, peers: s.peerCount }) + '\n');
});
process.on('SIGTERM', () => {
  void h.stop(true).then(() => process.exit(0));
});
