#!/usr/bin/env node
// Runs the compiled build (dist/, `npm run build`) when there is one. In a source checkout whose dist/ is
// missing or older than any file under src/, it runs the TypeScript sources through tsx instead, so a
// fresh clone and an edit-and-run loop both work. FURROW_RUNTIME=dist|source forces one (the tests run
// the sources). Checking costs one stat per source file (~200, about 2 ms).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
// A packed release ships src/**/*.md (the module docs) but no sources.
const sourceEntry = join(src, 'cli', 'main.ts');
const stamp = join(root, 'dist', '.build-stamp');

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** True when some file under `dir` (docs aside) changed after `since`. */
function newerThan(dir, since) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() ? newerThan(p, since) : !e.name.endsWith('.md') && statSync(p).mtimeMs > since) return true;
  }
  return false;
}

function chooseRuntime() {
  const forced = process.env.FURROW_RUNTIME;
  if (forced === 'dist' || forced === 'source') return forced;
  if (forced) process.stderr.write(`furrow: FURROW_RUNTIME=${forced} is not dist or source; choosing by itself\n`);
  const built = mtime(stamp);
  if (mtime(sourceEntry) === undefined) return 'dist'; // an installed package
  if (built === undefined) return 'source';
  if (newerThan(src, built)) {
    process.stderr.write('furrow: dist/ is older than src/ (run `npm run build`); running src/ through tsx\n');
    return 'source';
  }
  return 'dist';
}

if (chooseRuntime() === 'dist') {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
