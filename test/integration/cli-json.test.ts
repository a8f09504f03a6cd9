/** `--json` on the verbs that print data, `--pretty` colour rules, and `simulate --config` refused. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useColour } from '../../src/log.ts';
import { runFurrowInProcess as cli } from '../helpers/cli.ts';
import { DaemonProcess, FURROW_BIN, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { seedDataDir } from './lifecycle-seed.ts';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('furrow-json-');
});
afterEach(() => tmp.cleanup());

describe('--json', () => {
  it('prints one JSON document for release show, devices add, delta list, rollout plan/apply/status/pause, lora multicast status', async () => {
    const file = join(tmp.dir, 'furrow.yaml');
    writeFileSync(file, 'data: { dir: ./data }\n');
    const s = seedDataDir(join(tmp.dir, 'data'));
    const json = async (...args: string[]) => {
      const r = await cli(['-c', file, ...args, '--json']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    expect(await json('release', 'show', 'soil-probe', '1.1.0')).toMatchObject({ product: 'soil-probe', version: '1.1.0', sha256: s.targetSha256, signature: null });
    const added = await json('devices', 'add', 'probe-9', '--product', 'soil-probe');
    expect(added).toMatchObject({ id: 'probe-9', product: 'soil-probe', hwRev: null });
    expect(added.deviceKey).toMatch(/^[0-9a-f]{64}$/);
    const rollout = join(tmp.dir, 'r.yaml');
    writeFileSync(rollout, 'id: r1\nrelease: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n');
    expect(await json('rollout', 'plan', rollout)).toMatchObject({ selected: 2, alreadyCurrent: 0 });
    expect(await json('rollout', 'apply', rollout)).toMatchObject({ rollout: 'r1', action: 'created' });
    expect(await json('rollout', 'status', 'r1')).toMatchObject({ id: 'r1', state: 'running', release: { version: '1.1.0' } });
    expect(await json('rollout', 'status')).toMatchObject([{ id: 'r1', state: 'running' }]);
    expect(await json('rollout', 'pause', 'r1')).toEqual({ rollout: 'r1', state: 'paused' });
    expect(await json('lora', 'multicast', 'status')).toEqual([]);
    expect(await json('gc')).toMatchObject({ applied: false, files: [] });
  });
});

describe('colour and simulate', () => {
  it('colours pretty logs only on a terminal with NO_COLOR unset', () => {
    expect(useColour({ isTTY: true }, {})).toBe(true);
    expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(useColour({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(useColour({ isTTY: false }, {})).toBe(false);
    expect(useColour({}, {})).toBe(false);
  });

  it('writes no escape codes into a pipe from furrow start --pretty; status exits 0 while it runs and 3 once it stopped', async () => {
    const file = join(tmp.dir, 'furrow.yaml');
    writeFileSync(file, `data: { dir: ./data }\ncoap: { host: 127.0.0.1, port: ${await freeUdpPort()} }\nmetrics: { port: 0 }\n`);
    const d = DaemonProcess.start(['-c', file, 'start', '--pretty'], { env: { FORCE_COLOR: '1' } });
    let out = '';
    d.proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes('furrow started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // metrics.port 0: no status endpoint, so `status` tells a running daemon by <data.dir>/furrow.pid.
    const running = await cli(['-c', file, 'status']);
    await d.stop();
    expect(out).toContain('furrow started');
    expect(out).not.toContain('\u001b[');
    expect(running.code, running.stderr).toBe(0);
    expect(running.stdout).toMatch(/a daemon \(pid \d+\) runs on this data dir/);
    const down = await cli(['-c', file, 'status']);
    expect(down.code).toBe(3);
    expect(down.stdout).not.toContain('a daemon (pid');
  });

  it('colours furrow start --pretty on a real pseudo-terminal, and not with NO_COLOR set', async () => {
    const file = join(tmp.dir, 'furrow.yaml');
    writeFileSync(file, `data: { dir: ./data }\ncoap: { host: 127.0.0.1, port: 0 }\nmetrics: { port: 0 }\n`);
    // script(1) from util-linux gives the daemon a pty for stdout.
    const onPty = async (env: NodeJS.ProcessEnv) => {
      const p = spawn('script', ['-qfec', `${process.execPath} ${FURROW_BIN} -c ${file} start --pretty`, '/dev/null'], { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise((r) => p.on('exit', r));
      const deadline = Date.now() + 30_000;
      while (!out.includes('furrow started') && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      process.kill(-p.pid!, 'SIGTERM');
      await exited;
      expect(out).toContain('furrow started');
      return out;
    };
    expect(await onPty({ NO_COLOR: '' })).toContain('\u001b[');
    expect(await onPty({ NO_COLOR: '1' })).not.toContain('\u001b[');
  });

  it('refuses simulate --config, naming the file', async () => {
    const r = await cli(['simulate', '-c', join(tmp.dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--config ${join(tmp.dir, 'missing.yaml')}: simulate runs its own in-process daemon`);
    expect(r.stderr).toContain('does not exist');
  });
});
