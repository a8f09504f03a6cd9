/**
 * bench:coap — blocks/s and server RSS for 1, 50 and 500 concurrent Block2 downloads of a corpus
 * patch (WLED 0.14.3→0.14.4, furrow patch format) at 512 and 1024 B blocks: furrow's CoAP service vs
 * libcoap's coap-server-notls (Debian libcoap3-bin) serving the same bytes, same run, same load client.
 * Then 3 more rounds of 500 downloads to show furrow's memory does not grow with finished transfers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { encodePatch } from '../../src/delta/index.ts';
import { readCorpus } from '../helpers/corpus.ts';
import { freeUdpPort } from '../helpers/daemon.ts';

const here = import.meta.dirname;
// node --import tsx (not the tsx CLI, which forks): the pid we sample for RSS is the server itself.
const node = (file: string, args: string[], flags: string[] = []): [string, string[]] => [process.execPath, [...flags, '--import', 'tsx', file, ...args]];
void resolve;
const dir = mkdtempSync(join(tmpdir(), 'furrow-bench-coap-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const out: Buffer[] = [];
  c.stdout!.on('data', (b: Buffer) => out.push(b));
  const code = await new Promise<number | null>((r) => c.on('exit', r));
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}`);
  return Buffer.concat(out).toString();
}

interface LoadResult { blocks: number; bytes: number; ms: number; retransmissions: number; failed: number; downloads: number }

async function load(serverPid: number, port: number, szx: number, conc: number, paths: string[], size: number): Promise<LoadResult & { peakRss: number; rssAfter: number }> {
  let peak = rssKiB(serverPid);
  const t = setInterval(() => (peak = Math.max(peak, rssKiB(serverPid))), 50);
  // Enough repeats that every row serves at least ~20k blocks (warm JIT, stable rate).
  const repeats = Math.max(1, Math.ceil(20_000 / (conc * Math.ceil(size / (16 << szx)))));
  const out = await run(...node(join(here, 'coap-load.ts'), [String(port), String(szx), String(conc), String(repeats), paths.join(',')]), { EXPECT_SIZE: String(size) });
  clearInterval(t);
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  return { ...r, peakRss: Math.max(peak, rssKiB(serverPid)), rssAfter: rssKiB(serverPid) };
}

process.stderr.write('building the corpus patch (WLED 0.14.3 → 0.14.4)…\n');
const base = readCorpus('wled-esp32/0.14.3.bin');
const target = readCorpus('wled-esp32/0.14.4.bin');
const patch = await encodePatch(base, target);
for (const [n, b] of [['base.bin', base], ['target.bin', target], ['patch.bin', patch]] as const) writeFileSync(join(dir, n), b);
process.stderr.write(`patch: ${patch.length} bytes\n`);

const CONCURRENCY = [1, 50, 500];
const furrow = spawn(...node(join(here, 'coap-furrow-server.ts'), [join(dir, 'base.bin'), join(dir, 'target.bin'), join(dir, 'patch.bin'), String(Math.max(...CONCURRENCY))], ['--expose-gc']), {
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(furrow);
const furrowLines = createInterface({ input: furrow.stdout! });
const pendingLines: Array<(l: string) => void> = [];
furrowLines.on('line', (l) => pendingLines.shift()?.(l));
const nextLine = () => new Promise<string>((r) => pendingLines.push(r));
const info = JSON.parse(await nextLine()) as { port: number; paths: string[]; size: number };
interface Mem { heapUsed: number; rss: number; transfersCached: number; peers: number }
async function furrowMemory(): Promise<Mem> {
  const line = nextLine();
  furrow.kill('SIGUSR2');
  return JSON.parse(await line) as Mem;
}

const lport = await freeUdpPort();
let libcoap: ChildProcess;
try {
  libcoap = spawn('coap-server-notls', ['-A', '127.0.0.1', '-p', String(lport), '-d', '4', '-v', '0'], { stdio: 'ignore' });
} catch {
  throw new Error('coap-server-notls not found: install Debian package libcoap3-bin');
}
children.push(libcoap);
libcoap.on('error', () => {
  process.stderr.write('coap-server-notls not found: install Debian package libcoap3-bin\n');
  process.exit(1);
});
await new Promise((r) => setTimeout(r, 300));
// libcoap's example server stores a PUT body as a dynamic resource and serves it with Block2.
await run('coap-client-notls', ['-m', 'put', '-f', join(dir, 'patch.bin'), '-b', '1024', `coap://127.0.0.1:${lport}/patch`]);

// Warm-up (not reported): JIT both the server and libcoap's caches before the first measured row.
await load(furrow.pid!, info.port, 6, 10, info.paths.slice(0, 10), info.size);
await load(libcoap.pid!, lport, 6, 10, ['patch'], info.size);

const rows: string[][] = [];
const mib = (k: number) => (k / 1024).toFixed(1);
for (const szx of [5, 6]) {
  for (const conc of CONCURRENCY) {
    const f = await load(furrow.pid!, info.port, szx, conc, info.paths.slice(0, conc), info.size);
    const l = await load(libcoap.pid!, lport, szx, conc, ['patch'], info.size);
    const fb = f.blocks / (f.ms / 1000);
    const lb = l.blocks / (l.ms / 1000);
    rows.push([String(16 << szx), `${conc} (×${f.downloads / conc})`, fb.toFixed(0), lb.toFixed(0), `${((100 * fb) / lb).toFixed(0)}%`, mib(f.peakRss), mib(l.peakRss), `${f.retransmissions}/${l.retransmissions}`, `${f.failed}/${l.failed}`]);
    process.stderr.write(`block ${16 << szx} × ${conc}: furrow ${fb.toFixed(0)} blocks/s, libcoap ${lb.toFixed(0)} blocks/s\n`);
  }
}

const fmtMem = (m: Mem) => `heap ${(m.heapUsed / 2 ** 20).toFixed(1)} MiB, RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB, ${m.transfersCached} transfers cached, ${m.peers} peers`;
const growth: string[] = [`before: ${fmtMem(await furrowMemory())}`];
let finished = 0;
for (let round = 1; round <= 3; round++) {
  const f = await load(furrow.pid!, info.port, 6, 500, info.paths, info.size);
  finished += f.downloads - f.failed;
  growth.push(`after ${finished} more finished downloads: ${fmtMem(await furrowMemory())}`);
}

const head = ['block B', 'downloads', 'furrow blocks/s', 'libcoap blocks/s', 'furrow/libcoap', 'furrow peak RSS MiB', 'libcoap peak RSS MiB', 'retransmits f/l', 'failed f/l'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(`\nbench:coap — patch ${info.size} B (WLED 0.14.3→0.14.4), loopback, CON Block2, one UDP endpoint per download\n\n`);
process.stdout.write([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n') + '\n');
process.stdout.write(`\nfurrow memory after full GC, rounds of 500 downloads × 1024 B blocks (peers are kept EXCHANGE_LIFETIME = 247 s for duplicate detection, RFC 7252 §4.8.2):\n${growth.map((g) => `  ${g}`).join('\n')}\n`);
furrow.kill('SIGTERM');
libcoap.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 500));
process.exit(0);
