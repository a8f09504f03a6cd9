/**
 * `npm run bench:startup`: the daemon's start time and idle memory, compiled build (dist/, plain node)
 * vs the sources through tsx, side by side. Each run starts `node bin/furrow.js start` on the embedded
 * default config with its own data dir and ephemeral ports, and takes:
 *   - start: spawn until the "furrow started" log line (the moment systemd gets READY=1 under Type=notify);
 *   - idle RSS: VmRSS of the daemon after IDLE_MS without traffic, and of its children (tsx's esbuild);
 *   - stop: SIGTERM until exit (must be exit code 0).
 * Builds dist/ first (`npm run build`). Prints medians of RUNS runs per runtime as a markdown table.
 * The tsx path runs with tsx's transform cache warm (after its first run): its esbuild child then often
 * does not start; with a cold cache, as under the unit's PrivateTmp after every restart, it adds ~15 MB.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { DaemonProcess, REPO_ROOT } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

const RUNS = Number(process.env.STARTUP_BENCH_RUNS ?? 5);
const IDLE_MS = Number(process.env.STARTUP_BENCH_IDLE_MS ?? 5000);
const TARGET_RSS_MB = 90;

interface Run {
  startMs: number;
  rssMb: number;
  childRssMb: number;
  stopMs: number;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    if (kids) out.push(...kids.split(/\s+/).map(Number));
  }
  return out;
}

async function once(runtime: 'dist' | 'source'): Promise<Run> {
  const tmp = tempDir('furrow-bench-startup-');
  try {
    const t0 = performance.now();
    const proc = spawn(process.execPath, ['bin/furrow.js', 'start'], {
      cwd: REPO_ROOT,
      env: { ...process.env, FURROW_RUNTIME: runtime, FURROW_DATA_DIR: tmp.dir, FURROW_COAP_PORT: '0', FURROW_METRICS_PORT: '0', FURROW_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = DaemonProcess.attach(proc);
    await lines.waitForMsg('furrow started', 120_000);
    const startMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const rssMb = rssKb(proc.pid!) / 1024;
    const childRssMb = childPids(proc.pid!).reduce((n, p) => n + rssKb(p), 0) / 1024;
    const t1 = performance.now();
    proc.kill('SIGTERM');
    const { code } = await lines.exited;
    if (code !== 0) throw new Error(`${runtime}: daemon exited with ${code} on SIGTERM; stderr: ${lines.stderr.join('')}`);
    return { startMs, rssMb, childRssMb, stopMs: performance.now() - t1 };
  } finally {
    tmp.cleanup();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  process.stderr.write('building dist/ (npm run build)\n');
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const results: Record<string, Run[]> = { dist: [], source: [] };
  // Interleaved, so load from other processes on the machine hits both alike.
  for (let i = 0; i < RUNS; i++) {
    for (const runtime of ['dist', 'source'] as const) {
      const r = await once(runtime);
      results[runtime]!.push(r);
      process.stderr.write(`run ${i + 1}/${RUNS} ${runtime}: start ${r.startMs.toFixed(0)} ms, RSS ${r.rssMb.toFixed(1)} MB (+${r.childRssMb.toFixed(1)} MB children), stop ${r.stopMs.toFixed(0)} ms\n`);
    }
  }
  const row = (label: string, rs: Run[]) => {
    const rss = median(rs.map((r) => r.rssMb));
    const kids = median(rs.map((r) => r.childRssMb));
    return `| ${label} | ${median(rs.map((r) => r.startMs)).toFixed(0)} ms | ${rss.toFixed(1)} MB | ${kids.toFixed(1)} MB | ${(rss + kids).toFixed(1)} MB | ${median(rs.map((r) => r.stopMs)).toFixed(0)} ms |`;
  };
  process.stdout.write(`\nfurrow start on the embedded default config (no MQTT, no modem, no LoRa), median of ${RUNS} runs, idle ${IDLE_MS / 1000} s, node ${process.version}\n\n`);
  process.stdout.write('| runtime | start to "furrow started" | idle RSS | children RSS | total | stop (SIGTERM) |\n|---|---|---|---|---|---|\n');
  process.stdout.write(`${row('compiled (dist/, node)', results.dist!)}\n${row('sources through tsx', results.source!)}\n`);
  const dist = median(results.dist!.map((r) => r.rssMb + r.childRssMb));
  process.stdout.write(`\ntarget: compiled idle RSS ≤ ${TARGET_RSS_MB} MB: ${dist <= TARGET_RSS_MB ? 'met' : 'NOT met'} (${dist.toFixed(1)} MB)\n`);
}

await main();
