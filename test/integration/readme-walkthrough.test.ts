/**
 * README.md's "Operator walkthrough", run as written. The fenced sh block under that heading is read
 * from README.md itself (not copied here) and run by bash in a fresh directory holding what a clone
 * gives a new user (config/ copied, firmware/ linked so `make -C firmware` reuses the build), with the
 * demo config and data under ./data. Two translations only: `npx furrow` runs this checkout's
 * bin/furrow.js, and the devices' `127.0.0.1:5683` points at a free port, which the daemon and CLI get
 * from FURROW_COAP_PORT / FURROW_METRICS_PORT (the documented per-machine overrides; FURROW_COAP_HOST
 * keeps CoAP on IPv4 loopback for machines without IPv6). bash runs it with -e and pipefail, so
 * every step must exit 0; the ERR trap names the one that did not.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FURROW_BIN, freeTcpPort, freeUdpPort, REPO_ROOT } from '../helpers/daemon.ts';
import { readmeSection } from '../helpers/readme.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildFirmware } from '../unit/firmware/fw.ts';

function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    // detached: the walkthrough's background daemon is in this process group, so a timeout kills it too
    const proc = spawn('bash', ['-c', script], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), timeoutMs);
    proc.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe('README operator walkthrough', () => {
  const tmp = tempDir('furrow-walkthrough-');
  afterAll(() => tmp.cleanup());

  it('runs as written on a fresh clone, and a simulated device updates through the rollout', async () => {
    buildFirmware();
    const block = readmeSection('Operator walkthrough');
    expect(block, 'the devices in the walkthrough talk to the demo CoAP port').toContain('127.0.0.1:5683');
    expect(block).toMatch(/npx furrow start/);
    const coapPort = await freeUdpPort();
    const metricsPort = await freeTcpPort();
    const commands = block.replaceAll('npx furrow', `${JSON.stringify(process.execPath)} ${JSON.stringify(FURROW_BIN)}`).replaceAll('127.0.0.1:5683', `127.0.0.1:${coapPort}`);
    const script = [
      'set -eo pipefail',
      // Which line failed, with its exit code; and never leave the background daemon behind.
      `trap 'echo "walkthrough step failed (exit $?): $BASH_COMMAND" >&2' ERR`,
      `trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT`,
      `PS4='+ '`,
      'set -x',
      commands,
    ].join('\n');

    const dir = tmp.dir;
    cpSync(join(REPO_ROOT, 'config'), join(dir, 'config'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'firmware'), join(dir, 'firmware'));
    const r = await runBash(script, dir, { FURROW_COAP_PORT: String(coapPort), FURROW_COAP_HOST: '127.0.0.1', FURROW_METRICS_PORT: String(metricsPort), FURROW_DEBUG: '1' }, 150_000);
    const log = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').slice(-3000) : `(no ${f})`);
    expect(r.code, `${r.stderr.slice(-6000)}\n--- build/furrow.log\n${log('build/furrow.log')}\n--- probe-0001\n${log('build/probe-0001.log')}`).toBe(0);
    // What the walkthrough promises a reader, from its own output: the devices report 1.4.1 once they
    // checked in, the applied rollout reaches the running daemon, the canary updates and reports back.
    const out = r.stdout;
    // The daemon was started one step before; on a loaded machine it may not answer yet, and the CLI
    // says which of the two is true.
    expect(out).toMatch(/^patches: (the running daemon is building the full image|none built yet \(no daemon answers at )/m);
    expect(out).toMatch(/built: soil-probe 1\.4\.1 → 1\.4\.2 {2}delta/);
    expect(out).toMatch(/^probe-0001 +soil-probe +furrow +1\.4\.1 /m);
    expect(out).toMatch(/will be created \(2 devices in 2 waves\)/);
    expect(out).toContain('the running daemon picks it up within a second');
    expect(out).toMatch(/canary +\[#+\] +1\/1 +ok +soaking/);
    const lastList = out.slice(out.lastIndexOf('ID          PRODUCT'));
    expect(lastList.match(/ 1\.4\.2 +[0-9a-f]{12} +ok /g), lastList).toHaveLength(1);
    expect(out).toMatch(/from the running daemon/);
    const daemonLog = readFileSync(join(dir, 'build/furrow.log'), 'utf8');
    expect(daemonLog).toMatch(/device report/);
    expect(daemonLog, 'kill %1 stops the daemon cleanly').toMatch(/stopping[\s\S]{0,200}SIGTERM/);
  }, 180_000);
});
