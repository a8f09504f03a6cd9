/**
 * The third-party LwM2M clients the interop tests drive (../shared/interop, see its README.md), built
 * from their source tarballs once per machine and cached under ${XDG_CACHE_HOME:-~/.cache}/furrow/interop/<name>-<sha256 prefix>/
 * (FURROW_INTEROP_CACHE overrides): outside the checkout, so a fresh clone on the same machine (CI) reuses it.
 * A lock directory keeps parallel test files from building the same client twice; a build that died
 * half-way leaves no `done` marker and is redone. Builds run under `nice` with -j2: the machine is shared.
 *
 * Verified build flags (cmake 3.25, gcc 12):
 * - Anjay 3.9.0: `-DDTLS_BACKEND= -DWITH_DEMO=ON -DWITH_LIBRARY_SHARED=OFF -DCMAKE_BUILD_TYPE=Release`,
 *   target `demo` (output/bin/demo). With DTLS_BACKEND empty the demo speaks NoSec coap:// only.
 * - Wakaama f91cfe0: `examples/client/udp` with `-DWAKAAMA_UNIT_TESTS=OFF`, target `lwm2mclient`. Its
 *   wakaama.cmake declares the tinydtls transport unconditionally and refuses to configure without the
 *   tinydtls git submodule (absent from the tarball); empty placeholder files satisfy that check, and the
 *   tinydtls object library is never built because only `lwm2mclient` (plain UDP) is.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const INTEROP_DIR = resolve(process.env.FURROW_INTEROP ?? resolve(import.meta.dirname, '../../../shared/interop'));
const CACHE = resolve(
  process.env.FURROW_INTEROP_CACHE ?? join(process.env.XDG_CACHE_HOME?.startsWith('/') ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache'), 'furrow/interop'),
);

interface Recipe {
  name: string;
  tarball: string;
  /** Directory the tarball unpacks to. */
  top: string;
  /** Relative to the unpacked top directory. */
  cmakeSource: string;
  cmakeFlags: string[];
  target: string;
  /** Relative to the build directory. */
  binary: string;
  prepare?: (top: string) => void;
}

const TINYDTLS_PLACEHOLDERS = ['tinydtls.h', 'dtls.h', 'dtls.c', 'crypto.c', 'ccm.c', 'hmac.c', 'dtls_debug.c', 'netq.c', 'peer.c', 'dtls_prng.c', 'dtls_time.c', 'session.c', 'aes/rijndael.c', 'aes/rijndael_wrap.c', 'sha2/sha2.c', 'ecc/ecc.c', 'dtls_config.h'];

const RECIPES = {
  anjay: {
    name: 'anjay',
    tarball: 'anjay-3.9.0.tar.gz',
    top: 'anjay-3.9.0',
    cmakeSource: '.',
    cmakeFlags: ['-DDTLS_BACKEND=', '-DWITH_DEMO=ON', '-DWITH_LIBRARY_SHARED=OFF', '-DCMAKE_BUILD_TYPE=Release'],
    target: 'demo',
    binary: 'output/bin/demo',
  },
  wakaama: {
    name: 'wakaama',
    tarball: 'wakaama-f91cfe0.tar.gz',
    top: 'wakaama',
    cmakeSource: 'examples/client/udp',
    cmakeFlags: ['-DWAKAAMA_UNIT_TESTS=OFF', '-DCMAKE_BUILD_TYPE=Release'],
    target: 'lwm2mclient',
    binary: 'lwm2mclient',
    prepare: (top: string) => {
      const dir = join(top, 'transport/tinydtls/third_party/tinydtls');
      for (const f of TINYDTLS_PLACEHOLDERS) {
        mkdirSync(join(dir, f, '..'), { recursive: true });
        if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), '');
      }
    },
  },
} satisfies Record<string, Recipe>;

export type InteropClient = keyof typeof RECIPES;

function run(cmd: string, args: string[], cwd: string, logFile: string): Promise<void> {
  return new Promise((ok, fail) => {
    const p = spawn('nice', ['-n', '10', cmd, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => out.push(c));
    p.on('error', fail);
    p.on('exit', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      writeFileSync(logFile, text, { flag: 'a' });
      if (code === 0) ok();
      else fail(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}); log ${logFile}:\n${text.slice(-3000)}`));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes the lock directory; a lock older than 30 min is a dead build's and is broken. */
async function lock(dir: string): Promise<() => void> {
  const l = `${dir}.lock`;
  for (;;) {
    try {
      mkdirSync(l);
      return () => rmSync(l, { recursive: true, force: true });
    } catch {
      try {
        if (Date.now() - statSync(l).mtimeMs > 30 * 60_000) rmSync(l, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      await sleep(1000);
    }
  }
}

/** Path of the client's executable, building it first if this machine has not yet. */
export async function interopClient(name: InteropClient): Promise<string> {
  const r: Recipe = RECIPES[name];
  const tarball = join(INTEROP_DIR, r.tarball);
  if (!existsSync(tarball)) throw new Error(`interop source ${tarball} is missing: the tests expect ../shared/interop beside the repository (or set FURROW_INTEROP)`);
  const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16);
  const dir = join(CACHE, `${r.name}-${sha}`);
  const bin = join(dir, 'build', r.binary);
  const done = join(dir, 'done');
  if (existsSync(done)) return bin;
  mkdirSync(CACHE, { recursive: true });
  const unlock = await lock(dir);
  try {
    if (existsSync(done)) return bin;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = join(dir, 'build.log');
    await run('tar', ['xzf', tarball, '-C', dir], dir, log);
    const top = join(dir, r.top);
    r.prepare?.(top);
    await run('cmake', ['-S', join(top, r.cmakeSource), '-B', join(dir, 'build'), ...r.cmakeFlags], dir, log);
    await run('cmake', ['--build', join(dir, 'build'), '-j2', '--target', r.target], dir, log);
    if (!existsSync(bin)) throw new Error(`${r.name} build finished but ${bin} is missing; log ${log}`);
    writeFileSync(done, `${new Date().toISOString()}\n`);
    return bin;
  } finally {
    unlock();
  }
}
