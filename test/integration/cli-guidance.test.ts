/**
 * What the CLI tells an operator at the steps of the README walkthrough where a new user got stuck
 * (issue 24): trusted-key paths, rollout files under `config check`, plan failures, and what happens
 * after `release add` / `rollout apply` when no daemon runs. The CLI runs in-process on a temp config
 * whose metrics port has no listener, so "no daemon" is real (ECONNREFUSED), not assumed.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { runFurrowInProcess as furrow } from '../helpers/cli.ts';
import { freeTcpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('CLI guidance along the walkthrough', () => {
  const tmp = tempDir('furrow-guidance-');
  const dir = tmp.dir;
  const cfgDir = join(dir, 'config');
  const config = join(cfgDir, 'furrow.yaml');
  const rollout = join(cfgDir, 'rollouts', 'probe-2.yaml');
  let metricsPort = 0;
  const img = (v: string) => join(dir, 'build', `probe-${v}.bin`);

  beforeAll(async () => {
    metricsPort = await freeTcpPort();
    mkdirSync(join(cfgDir, 'rollouts'), { recursive: true });
    writeFileSync(
      config,
      [
        `data: { dir: ${JSON.stringify(join(dir, 'data'))} }`,
        `metrics: { port: ${metricsPort} }`,
        // relative to config/, so this names <dir>/keys/vendor.pub.pem, not <cwd>/keys/...
        'releases: { allowUnsigned: true, trustedKeys: [../keys/vendor.pub.pem] }',
      ].join('\n') + '\n',
    );
    writeFileSync(rollout, 'release: { product: probe, version: "2" }\nselect: { runningVersions: ["1"] }\nwaves:\n  - { size: rest }\n');
    for (const v of ['1', '2']) expect((await furrow(['demo', 'image', img(v), '--product', 'probe', '--version', v, '--size', '8KiB'])).code).toBe(0);
  });
  afterAll(() => tmp.cleanup());

  it('names the path a relative trustedKeys entry resolved to, and from which folder, when the key is missing', async () => {
    expect((await furrow(['keys', 'generate', join(dir, 'elsewhere', 'vendor')])).code).toBe(0);
    expect((await furrow(['release', 'sign', img('1'), '-p', 'probe', '-V', '1', '-k', join(dir, 'elsewhere', 'vendor.pem')])).code).toBe(0);
    const r = await furrow(['-c', config, 'release', 'add', img('1'), '-p', 'probe', '-V', '1', '--sig', `${img('1')}.sig`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`releases.trustedKeys: cannot read public key ${join(dir, 'keys', 'vendor.pub.pem')}: ENOENT`);
    expect(r.stderr).toContain(`resolved from ${cfgDir}, the folder of ${config}`);
    expect(r.stderr).toMatch(/hint: relative paths in releases.trustedKeys are resolved from the config file's folder, not the working directory/);
  });

  it('keys generate makes the folder it is asked to write into, private to its owner', async () => {
    const r = await furrow(['keys', 'generate', join(dir, 'keys', 'vendor')]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'keys', 'vendor.pem')).mode & 0o777).toBe(0o600);
    expect(r.stdout).toContain(`(${join(dir, 'keys', 'vendor.pub.pem')})`);
    expect(r.stdout).toMatch(/relative entries there are resolved from the config file's folder/);
  });

  it("says that no patch is built when no daemon runs, and how to build one", async () => {
    expect((await furrow(['-c', config, 'release', 'add', img('1'), '-p', 'probe', '-V', '1'])).code).toBe(0);
    const r = await furrow(['-c', config, 'release', 'add', img('2'), '-p', 'probe', '-V', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`patches: none built yet \\(no daemon answers at http://127\\.0\\.0\\.1:${metricsPort}/readyz \\(ECONNREFUSED\\)\\)`));
    expect(r.stdout).toContain('`furrow delta build --from <version> --to 2 --product probe`');
  });

  it('checks a rollout file against the rollout schema, not as a gateway config', async () => {
    const ok = await furrow(['config', 'check', rollout]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`${rollout}: ok (rollout probe-2;`);
    const bad = join(dir, 'bad-rollout.yaml');
    writeFileSync(bad, 'release: { product: probe }\nwaves: 3\n');
    const r = await furrow(['config', 'check', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/2 problems\n.*bad-rollout\.yaml:1:\d+ release: name the release by version or sha256\n.*bad-rollout\.yaml:2:8 waves: expected array/);
    expect(r.stderr).toContain('re-checks a rollout file without touching the database');
    // a gateway config with a typo is still a gateway config
    const gw = join(dir, 'gw.yaml');
    writeFileSync(gw, 'coap: { prot: 5683 }\n');
    expect((await furrow(['config', 'check', gw])).stderr).toMatch(/gw\.yaml:1:9 coap\.prot: /);
  });

  it('a plan that selects no device says how devices get selected, not to re-check the file', async () => {
    expect((await furrow(['-c', config, 'devices', 'add', 'p-1', '--product', 'probe'])).code).toBe(0);
    const r = await furrow(['-c', config, 'rollout', 'plan', rollout]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/select: the selector matches no devices \(1 probe device known\)/);
    expect(r.stderr).toMatch(/hint: add devices with `furrow devices add .*at its last check-in \(`furrow devices list`, VERSION\)/);
    expect(r.stderr).not.toContain('config check');
  });

  it('counts one device in the singular, and apply says that no daemon will pick the rollout up yet', async () => {
    // The check-in the CoAP server records (the walkthrough test makes it with the real device).
    const db = openDatabase(join(dir, 'data', 'furrow.db'));
    new DeviceRepo(db).recordCheckin('p-1', { runningSha256: new ReleaseRepo(db).byVersion('probe', '1')!.sha256, runningVersion: '1' }, Date.now());
    db.close();
    const r = await furrow(['-c', config, 'rollout', 'apply', rollout]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('+ rollout probe-2 will be created (1 device in 1 wave)');
    expect(r.stdout).toMatch(/^ +0 canary +1 device  /m);
    expect(r.stdout).not.toMatch(/\b1 devices\b/);
    expect(r.stdout).toContain(`applied: rollout probe-2 created; no daemon answers at http://127.0.0.1:${metricsPort}/readyz (ECONNREFUSED): devices are offered the update once the daemon runs with this config (furrow start)`);
  });
});
