/**
 * Raw LZMA1 compression through XZ Utils (Debian `xz-utils`): FORMAT.md 6.4. xz runs in child
 * processes, which keeps CPU work off the event loop; a patch needs dozens of streams, so they run
 * as one shell batch (`xzBatch`) rather than one spawn each (see there).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FurrowError } from '../errors.ts';
import type { LzmaParams } from './lzma-decoder.ts';

/** Encoder-only search settings (xz `--lzma1` options): they change how well xz searches, never the stream's parameters. */
export interface XzTuning {
  /** xz preset the options start from (default 9e, the smallest output). */
  preset?: string;
  nice?: number;
  mf?: 'hc3' | 'hc4' | 'bt2' | 'bt3' | 'bt4';
}

export function xzArgs(p: LzmaParams, t: XzTuning = {}): string[] {
  const tune = `${t.nice === undefined ? '' : `,nice=${t.nice}`}${t.mf === undefined ? '' : `,mf=${t.mf}`}`;
  return ['--format=raw', `--lzma1=preset=${t.preset ?? '9e'},lc=${p.lc},lp=${p.lp},pb=${p.pb},dict=${p.dictSize}${tune}`, '-c', '-q'];
}

/** Runs `cmd args` with `input` on stdin and collects stdout. */
export function runFilter(cmd: string, args: string[], input: Uint8Array, pkg: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new FurrowError('DELTA_TOOL_MISSING', `cannot run ${cmd}: ${e.code ?? e.message}`, {
          hint: `install the Debian package ${pkg} (apt-get install -y ${pkg})`,
          cause: e,
        }),
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new FurrowError('DELTA_TOOL_FAILED', `${cmd} ${args.join(' ')} exited with ${code}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.on('error', () => undefined); // the close handler reports the failure
    child.stdin.end(input);
  });
}

export interface XzJob {
  /**
   * One stream, or several compressed by the same xz process as independent streams whose outputs
   * are concatenated (only the total length is meaningful then: used to rank candidates cheaply).
   */
  data: Uint8Array | Uint8Array[];
  params: LzmaParams;
  tuning?: XzTuning;
}

function partsOf(job: XzJob): Uint8Array[] {
  return (Array.isArray(job.data) ? job.data : [job.data]).filter((d) => d.length > 0);
}

/**
 * Compresses many jobs with `lanes` xz processes running side by side, largest jobs first.
 * Node spawns one `sh` for the whole batch: spawning from the Node process blocks its thread until the
 * child has exec'd (about 12 ms each on this 2-core box under load, 126 spawns for a feature release),
 * while the shell forks cheaply. `onDone(i)` is called as job i finishes. Empty inputs give empty outputs.
 */
export async function xzBatch(jobs: XzJob[], lanes: number, onDone?: (i: number) => void): Promise<Buffer[]> {
  const out = jobs.map(() => Buffer.alloc(0));
  const size = jobs.map((j) => partsOf(j).reduce((n, d) => n + d.length, 0));
  const work = jobs.map((_, i) => i).filter((i) => size[i]! > 0);
  for (const i of jobs.keys()) if (size[i] === 0) onDone?.(i);
  if (work.length === 0) return out;
  const dir = mkdtempSync(join(tmpdir(), 'furrow-xz-'));
  try {
    // longest-processing-time first: each job goes to the lane with the least bytes so far
    const load = new Array<number>(Math.max(1, lanes)).fill(0);
    const laneJobs = load.map(() => [] as number[]);
    const files = new Map<number, string[]>();
    for (const i of [...work].sort((a, b) => size[b]! - size[a]!)) {
      const lane = load.indexOf(Math.min(...load));
      laneJobs[lane]!.push(i);
      load[lane]! += size[i]!;
      files.set(
        i,
        partsOf(jobs[i]!).map((d, k) => {
          writeFileSync(join(dir, `${i}.${k}.raw`), d);
          return `${i}.${k}.raw`;
        }),
      );
    }
    // a failed xz ends its lane with xz's exit status (`set -e` would not: it ignores `&&` lists)
    const cmd = (i: number) => `xz ${xzArgs(jobs[i]!.params, jobs[i]!.tuning).join(' ')} ${files.get(i)!.join(' ')} > ${i}.lz || exit $?; echo ${i}`;
    const script = [
      ...laneJobs.filter((l) => l.length > 0).map((l, k) => `(${l.map(cmd).join('; ')}) & p${k}=$!`),
      'rc=0',
      ...laneJobs.filter((l) => l.length > 0).map((_, k) => `wait $p${k} || rc=$?`),
      'exit $rc',
    ].join('\n');
    await runBatch(script, dir, onDone);
    for (const i of work) out[i] = readFileSync(join(dir, `${i}.lz`));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runBatch(script: string, cwd: string, onDone?: (i: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    let line = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      const parts = (line + s).split('\n');
      line = parts.pop()!;
      for (const p of parts) if (p) onDone?.(Number(p));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => reject(new FurrowError('DELTA_TOOL_FAILED', `cannot run sh for xz: ${e.code ?? e.message}`, { cause: e })));
    child.on('close', (code) => {
      const msg = Buffer.concat(err).toString().trim();
      if (code === 0) resolve();
      else if (code === 127) {
        reject(new FurrowError('DELTA_TOOL_MISSING', `cannot run xz: ${msg || 'not found'}`, { hint: 'install the Debian package xz-utils (apt-get install -y xz-utils)' }));
      } else reject(new FurrowError('DELTA_TOOL_FAILED', `xz exited with ${code}: ${msg}`));
    });
  });
}
