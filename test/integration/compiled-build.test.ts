/**
 * The compiled build as it ships: `scripts/build.mjs` (what `npm run build` and `prepare` run) compiles
 * into a temp dir, laid out with exactly the other files `npm pack` would put in the tarball (no src/
 * sources), and the real daemon started from it with plain node: it serves CoAP (libcoap's
 * coap-client-notls reads /.well-known/core) and /metrics, runs no tsx/esbuild, builds a patch on its
 * worker thread (dist/delta/worker.js), and stops cleanly on SIGTERM. The rest of the suite runs src/.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, freeTcpPort, freeUdpPort, REPO_ROOT } from '../helpers/daemon.ts';
import { layOutPackedRelease } from '../helpers/packed.ts';
import { tempDir } from '../helpers/tmp.ts';

const exec = promisify(execFile);

/** The files `npm pack` ships, from npm itself (scripts ignored: the build is done here, into the temp dir). */

describe('the compiled build (dist/) as packed', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pkg: string;
  let files: string[];

  beforeAll(() => {
    tmp = tempDir('furrow-dist-');
    pkg = join(tmp.dir, 'package');
    files = layOutPackedRelease(pkg);
    // What `npm ci --omit=dev` gives an installed release.
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
  }, 180_000);

  afterAll(() => tmp?.cleanup());

  it('ships dist/ but no TypeScript sources, and the build holds every migration and a stamp', () => {
    expect(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).files).toContain('dist/');
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files).toContain('bin/furrow.js');
    expect(files).toContain('config/furrow.yaml');
    const migrations = readdirSync(join(REPO_ROOT, 'src/store/migrations')).filter((f) => f.endsWith('.sql'));
    expect(migrations.length).toBeGreaterThan(0);
    expect(readdirSync(join(pkg, 'dist/store/migrations')).sort()).toEqual(migrations.sort());
    expect(JSON.parse(readFileSync(join(pkg, 'dist/.build-stamp'), 'utf8')).version).toBe(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version);
    expect(existsSync(join(pkg, 'dist/delta/worker.js'))).toBe(true);
  });

  it('starts with plain node, serves CoAP and /metrics without tsx, and exits 0 on SIGTERM', async () => {
    const coapPort = await freeUdpPort();
    const metricsPort = await freeTcpPort();
    const config = join(tmp.dir, 'furrow.yaml');
    writeFileSync(config, `gateway: { id: dist-gw }\ndata: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\ncoap: { host: 127.0.0.1, port: ${coapPort} }\nmetrics: { port: ${metricsPort} }\n`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.FURROW_RUNTIME; // the suite pins src/; a packed release decides by itself
    const daemon = DaemonProcess.attach(spawn(process.execPath, [join(pkg, 'bin/furrow.js'), '--config', config, 'start'], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await daemon.waitForMsg('furrow started', 60_000);
      const pid = daemon.proc.pid!;
      // tsx would show up as an esbuild child and as loaded tsx files.
      const children = readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
      expect(children.map((c) => readFileSync(`/proc/${c}/comm`, 'utf8').trim())).not.toContain('esbuild');
      expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).not.toMatch(/esbuild/);

      const { stdout } = await exec('coap-client-notls', ['-B', '10', '-m', 'get', `coap://127.0.0.1:${coapPort}/.well-known/core`]);
      expect(stdout).toMatch(/<\/[a-z]+>/);
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^furrow_devices /m);
      expect(daemon.stderr.join('')).toBe('');
    } finally {
      const exit = await daemon.stop();
      expect(exit.code).toBe(0);
    }
    expect(daemon.lines.some((l) => l.msg === 'furrow stopped')).toBe(true);
  });

  it('builds a patch on the compiled worker thread (dist/delta/worker.js) that applies to the new image', () => {
    const script = `
      import { BuildWorker } from ${JSON.stringify(join(pkg, 'dist/delta/off-thread.js'))};
      import { applyPatch } from ${JSON.stringify(join(pkg, 'dist/delta/apply.js'))};
      const oldImg = Buffer.alloc(65536, 7);
      const newImg = Buffer.from(oldImg); newImg.write('furrow compiled worker', 1000);
      const w = new BuildWorker();
      const patch = await w.encode(oldImg, newImg);
      await w.close();
      process.stdout.write(JSON.stringify({ bytes: patch.length, ok: applyPatch(oldImg, patch).equals(newImg) }));
    `;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.FURROW_RUNTIME;
    const file = join(tmp.dir, 'build-one.mjs'); // a file, not -e: a worker inherits execArgv such as --input-type
    writeFileSync(file, script);
    const out = JSON.parse(execFileSync(process.execPath, [file], { cwd: tmp.dir, env, encoding: 'utf8' })) as { bytes: number; ok: boolean };
    expect(out.ok).toBe(true);
    expect(out.bytes).toBeGreaterThan(0);
    expect(out.bytes).toBeLessThan(65536);
  });
});
