/**
 * Raw LZMA1 compression through XZ Utils (Debian `xz-utils`): FORMAT.md 6.4. Streams are small
 * (at most one chunk), so one short-lived process per stream is cheap and keeps CPU work off the
 * event loop.
 */
import { spawn } from 'node:child_process';
import { FurrowError } from '../errors.ts';
import type { LzmaParams } from './lzma-decoder.ts';

/** Encoder-only search settings (xz `--lzma1` options): they change how well xz searches, never the stream's parameters. */
export interface XzTuning {
  nice?: number;
  mf?: 'hc3' | 'hc4' | 'bt2' | 'bt3' | 'bt4';
}

export function xzArgs(p: LzmaParams, t: XzTuning = {}): string[] {
  const tune = `${t.nice === undefined ? '' : `,nice=${t.nice}`}${t.mf === undefined ? '' : `,mf=${t.mf}`}`;
  return ['--format=raw', `--lzma1=preset=9e,lc=${p.lc},lp=${p.lp},pb=${p.pb},dict=${p.dictSize}${tune}`, '-c', '-q'];
}

/** Compresses `data` into one raw LZMA1 stream (with end marker). Empty input gives an empty result. */
export function lzma1Compress(data: Uint8Array, p: LzmaParams, t: XzTuning = {}): Promise<Buffer> {
  if (data.length === 0) return Promise.resolve(Buffer.alloc(0));
  return runFilter('xz', xzArgs(p, t), data, 'xz-utils');
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
