/**
 * The detools C library (../shared/interop/detools-<rev>.tar.gz, by Erik Moqvist: an independent
 * decoder) built once into test/.tmp (git-ignored) as its own `detools apply_patch` command line, the
 * decoder esp_delta_ota runs on the device. Built without LZMA (not needed for sequential none/heatshrink
 * patches), with the static heatshrink configuration esp_delta_ota uses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from './daemon.ts';

const REV = '53d1f47';
const TARBALL = resolve(REPO_ROOT, '../shared/interop', `detools-${REV}.tar.gz`);
const OUT = resolve(REPO_ROOT, 'test/.tmp', `detools-${REV}`);

/** Path of the built `detools` binary (builds it on first use; concurrent callers race to one rename). */
export function detoolsBinary(): string {
  const bin = join(OUT, 'detools');
  if (existsSync(bin)) return bin;
  if (!existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: the tests expect ../shared/interop beside the repository`);
  mkdirSync(resolve(OUT, '..'), { recursive: true });
  const work = mkdtempSync(`${OUT}.build-`);
  try {
    execFileSync('tar', ['xzf', TARBALL, '-C', work]);
    const c = join(work, 'detools', 'c');
    execFileSync('gcc', ['-O2', '-std=c99', '-Wall', '-Wextra', '-Werror', '-Iheatshrink', '-DDETOOLS_CONFIG_COMPRESSION_LZMA=0', 'heatshrink/heatshrink_decoder.c', 'detools.c', 'main.c', '-o', 'detools'], { cwd: c, stdio: ['ignore', 'ignore', 'pipe'] });
    mkdirSync(join(work, 'out'));
    renameSync(join(c, 'detools'), join(work, 'out', 'detools'));
    try {
      renameSync(join(work, 'out'), OUT);
    } catch {
      /* another worker finished first: its binary is the same build */
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return bin;
}

/** Applies a detools patch with the C library; returns the new image or throws with detools' message. */
export function applyWithDetools(base: Uint8Array, patch: Uint8Array, dir: string): Buffer {
  const from = join(dir, 'from.bin');
  const p = join(dir, 'patch.bin');
  const to = join(dir, 'to.bin');
  writeFileSync(from, base);
  writeFileSync(p, patch);
  rmSync(to, { force: true });
  try {
    execFileSync(detoolsBinary(), ['apply_patch', from, p, to], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; status?: number };
    throw new Error(`detools apply_patch failed (exit ${e.status}): ${(e.stdout?.toString() ?? '') + (e.stderr?.toString() ?? '')}`.trim());
  }
  return readFileSync(to);
}
