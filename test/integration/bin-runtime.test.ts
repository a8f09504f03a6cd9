/**
 * bin/furrow.js picks what to run: the compiled build when its stamp is newer than every source file, the
 * sources through tsx when dist/ is missing or stale (with a note on stderr), dist/ alone in a packed
 * release, and what FURROW_RUNTIME says when set. Checked on a copy of the real bin/furrow.js in a temp
 * tree whose two entry points say which one ran.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FURROW_BIN, REPO_ROOT } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('bin/furrow.js runtime choice', () => {
  let tmp: ReturnType<typeof tempDir>;
  const at = (p: string) => join(tmp.dir, p);
  const touch = (p: string, secondsAgo: number) => {
    const t = Date.now() / 1000 - secondsAgo;
    utimesSync(at(p), t, t);
  };
  const run = (env: NodeJS.ProcessEnv = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!('FURROW_RUNTIME' in env)) delete e.FURROW_RUNTIME;
    const r = spawnSync(process.execPath, [at('bin/furrow.js')], { env: e, encoding: 'utf8' });
    return { ran: r.stdout.trim(), stderr: r.stderr.trim(), code: r.status };
  };

  beforeEach(() => {
    tmp = tempDir('furrow-bin-');
    for (const d of ['bin', 'dist/cli', 'src/cli', 'src/store']) mkdirSync(at(d), { recursive: true });
    copyFileSync(FURROW_BIN, at('bin/furrow.js'));
    writeFileSync(at('package.json'), '{ "type": "module" }\n');
    symlinkSync(join(REPO_ROOT, 'node_modules'), at('node_modules'));
    writeFileSync(at('dist/cli/main.js'), "process.stdout.write('dist');\n");
    // Type syntax: only tsx can run this file.
    writeFileSync(at('src/cli/main.ts'), "const where: string = 'source';\nprocess.stdout.write(where);\n");
    writeFileSync(at('src/store/001_x.sql'), 'SELECT 1;\n');
    touch('src/cli/main.ts', 100);
    touch('src/store/001_x.sql', 100);
  });
  afterEach(() => tmp.cleanup());

  it('runs the sources when there is no build stamp (a fresh clone before npm run build)', () => {
    expect(run()).toEqual({ ran: 'source', stderr: '', code: 0 });
  });

  it('runs dist/ when the stamp is newer than every source file', () => {
    writeFileSync(at('dist/.build-stamp'), '{}\n');
    expect(run()).toEqual({ ran: 'dist', stderr: '', code: 0 });
  });

  it('runs the sources and says why when any source file (a migration too) changed after the build', () => {
    writeFileSync(at('dist/.build-stamp'), '{}\n');
    touch('dist/.build-stamp', 50);
    touch('src/store/001_x.sql', 10);
    const r = run();
    expect(r.ran).toBe('source');
    expect(r.stderr).toMatch(/dist\/ is older than src\/ \(run `npm run build`\)/);
  });

  it('ignores edited docs under src/ when judging staleness', () => {
    writeFileSync(at('dist/.build-stamp'), '{}\n');
    touch('dist/.build-stamp', 50);
    writeFileSync(at('src/cli/README.md'), 'docs\n');
    expect(run().ran).toBe('dist');
  });

  it('runs dist/ in a packed release, which has docs but no sources under src/', () => {
    rmSync(at('src/cli/main.ts'));
    rmSync(at('src/store/001_x.sql'));
    writeFileSync(at('src/cli/README.md'), 'docs\n');
    expect(run().ran).toBe('dist');
  });

  it('follows FURROW_RUNTIME, and names a bad value', () => {
    expect(run({ FURROW_RUNTIME: 'dist' }).ran).toBe('dist');
    writeFileSync(at('dist/.build-stamp'), '{}\n');
    expect(run({ FURROW_RUNTIME: 'source' }).ran).toBe('source');
    const r = run({ FURROW_RUNTIME: 'compiled' });
    expect(r.ran).toBe('dist');
    expect(r.stderr).toContain('FURROW_RUNTIME=compiled is not dist or source');
  });
});
