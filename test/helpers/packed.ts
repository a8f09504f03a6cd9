import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './daemon.ts';

/**
 * The package as `npm pack` ships it, laid out in `dir`: the files npm lists (scripts ignored, so the
 * repo's own dist/ is neither built nor used) plus dist/ compiled into `dir` by scripts/build.mjs, the
 * script `npm run build` and `prepare` run. Returns npm's file list.
 */
export function layOutPackedRelease(dir: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  for (const f of files.filter((p) => !p.startsWith('dist/'))) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    cpSync(join(REPO_ROOT, f), join(dir, f));
  }
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), '--out-dir', join(dir, 'dist')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return files;
}
