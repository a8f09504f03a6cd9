/**
 * Shared helpers for the firmware tests: builds firmware/ with make (a no-op when up to date), runs
 * the compiled drivers, and caches furrow patches of the corpus pairs made by the TypeScript encoder.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeFullImage, encodePatch } from '../../../src/delta/index.ts';
import { readCorpus } from '../../helpers/corpus.ts';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const FIRMWARE = resolve(ROOT, 'firmware');
export const BUILD = resolve(FIRMWARE, 'build');

let built = false;
/** Builds the host binaries; throws with the compiler output if that fails. */
export function buildFirmware(target = 'all'): void {
  if (built && target === 'all') return;
  if (!existsSync('/usr/include/openssl/sha.h')) {
    throw new Error('firmware host build needs the OpenSSL headers: apt-get install -y libssl-dev');
  }
  try {
    execFileSync('make', ['-s', '-C', FIRMWARE, target], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`make -C firmware ${target} failed (needs gcc, make, libssl-dev):\n${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`);
  }
  if (target === 'all') built = true;
}

export function bin(name: string): string {
  return resolve(BUILD, name);
}

export function run(name: string, args: string[], input?: Buffer): SpawnSyncReturns<Buffer> {
  return spawnSync(bin(name), args, { input, maxBuffer: 64 << 20 });
}

/** Parses the JSON lines a driver printed. */
export function events(stdout: Buffer | string): Array<Record<string, unknown>> {
  return stdout
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Applies `patch` to `base` (empty = full image) with the C decoder (patch_cli) on a fresh host flash in
 * `dir`: its last event, its stderr, and the passive slot's bytes when it finished.
 */
export function applyWithC(dir: string, base: Buffer, patch: Buffer): { last: Record<string, unknown>; stderr: string; result: Buffer } {
  writeFileSync(`${dir}.base`, base);
  writeFileSync(`${dir}.patch`, patch);
  const r = run('patch_cli', [dir, base.length === 0 ? '/dev/null' : `${dir}.base`, `${dir}.patch`]);
  const last = events(r.stdout).at(-1) ?? {};
  return { last, stderr: r.stderr.toString(), result: last.event === 'done' ? readFileSync(join(dir, 'slot1.bin')) : Buffer.alloc(0) };
}

const CACHE = resolve(ROOT, 'test/.tmp/firmware-patches');

/**
 * A furrow patch from `from` (corpus file, or null for a full image) to `to`, cached on disk;
 * `chunkSize` as delta.chunkBytes (default: the encoder's 1 MiB).
 */
export async function corpusPatch(from: string | null, to: string, chunkSize?: number): Promise<string> {
  // The key covers every encoder source, so a change anywhere in src/delta/ never serves a stale patch.
  const hash = createHash('sha256').update(`${from ?? 'full'}|${to}|${chunkSize ?? ''}|`);
  const deltaDir = resolve(ROOT, 'src/delta');
  for (const f of readdirSync(deltaDir).filter((n) => n.endsWith('.ts')).sort()) hash.update(f).update(readFileSync(join(deltaDir, f)));
  const key = hash.digest('hex').slice(0, 16);
  const file = resolve(CACHE, `${key}.patch`);
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    const opts = chunkSize === undefined ? {} : { chunkSize };
    const patch = from === null ? await encodeFullImage(readCorpus(to), opts) : await encodePatch(readCorpus(from), readCorpus(to), opts);
    // Test files run in parallel workers: each writes its own temp name, the rename is atomic.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, patch);
    renameSync(tmp, file);
  }
  return file;
}
