#!/usr/bin/env node
// npm run build: compiles src/ to dist/ with tsc (tsconfig.build.json) and copies the files the
// daemon reads at run time (the store's .sql migrations; every non-TypeScript file under src/ except
// docs). dist/ is emptied first, so a file deleted from src/ (a migration) cannot linger in a build.
// The stamp is written last: a build that failed half way has none and counts as missing.
// Also the `prepare` script: in a packed release (docs only under src/) there is nothing to build. It writes to stderr
// only, so `npm pack --json` stays parseable.
//
//   node scripts/build.mjs [--out-dir <dir>]      (default: dist)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out-dir');
const out = resolve(outIdx >= 0 ? (args[outIdx + 1] ?? '') : join(root, 'dist'));

if (!existsSync(join(src, 'cli', 'main.ts'))) {
  console.error('furrow build: no sources here (a packed release ships dist/); nothing to build');
  process.exit(0);
}
let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  console.error('furrow build: typescript is not installed; run `npm ci` (with dev dependencies) first');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
const t0 = Date.now();
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: ['ignore', 2, 2] });
if (r.status !== 0) {
  console.error(`furrow build: tsc failed (exit ${r.status ?? r.signal}); dist is incomplete and will not be used`);
  process.exit(1);
}

const RUNTIME_SKIP = new Set(['.ts', '.md']);
let assets = 0;
(function copyAssets(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const from = join(dir, e.name);
    if (e.isDirectory()) copyAssets(from);
    else if (!RUNTIME_SKIP.has(extname(e.name))) {
      const to = join(out, relative(src, from));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
      assets++;
    }
  }
})(src);

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(out, '.build-stamp'), `${JSON.stringify({ version, builtAt: new Date().toISOString(), node: process.version })}\n`);
console.error(`furrow build: ${relative(root, out) || out} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${assets} assets copied)`);
