import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MulticastRepo } from '../../../src/bearer/lora/fuota/store.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';
import { runFurrowInProcess } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tmp.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const key = (): string => randomBytes(16).toString('hex');

describe('furrow lora multicast', () => {
  const tmp = tempDir('furrow-lora-cli-');
  const file = join(tmp.dir, 'furrow.yaml');
  const bare = join(tmp.dir, 'bare.yaml');
  const cli = (...args: string[]) => runFurrowInProcess(['--config', file, ...args]);
  const [a, b, target] = [sha('probe 1.0.0'), sha('probe 0.9.0'), sha('probe 1.1.0')];
  let db: Db;

  const rollout = (id: string, product: string, extra: Record<string, unknown> = {}): string => {
    const p = join(tmp.dir, `${id}.yaml`);
    writeFileSync(p, stringify({ id, release: { product, version: '1.1.0' }, waves: [{ size: 'rest' }], ...extra }));
    return p;
  };

  beforeAll(async () => {
    const data = join(tmp.dir, 'data');
    const devices: Record<string, Record<string, string>> = {
      '70b3d57ed0000001': { deviceId: 'p1', genAppKey: key() },
      '70b3d57ed0000002': { deviceId: 'p2', genAppKey: key() },
      '70b3d57ed0000003': { deviceId: 'p3', genAppKey: key() },
      '70b3d57ed0000004': { deviceId: 'p4', genAppKey: key() },
      '70b3d57ed0000005': { deviceId: 'p5' },
    };
    writeFileSync(file, stringify({ data: { dir: data }, lora: { chirpstack: { applicationId: 'app', apiUrl: 'http://127.0.0.1:1' }, devices } }));
    writeFileSync(bare, stringify({ data: { dir: data } }));
    db = openDatabase(join(data, 'furrow.db'));
    const releases = new ReleaseRepo(db);
    const now = Date.now();
    for (const [product, s, v] of [['probe', a, '1.0.0'], ['probe', b, '0.9.0'], ['probe', target, '1.1.0'], ['valve', sha('valve 1.0.0'), '1.0.0'], ['valve', sha('valve 1.1.0'), '1.1.0']] as const) {
      releases.insert({ sha256: s, product, version: v, secureVersion: 1, size: 1000, chip: 'esp32', appVersion: v, projectName: product, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: now });
    }
    const repo = new DeviceRepo(db);
    for (const [id, running] of [['p1', a], ['p2', a], ['p3', a], ['p4', b], ['p5', a]] as const) repo.add({ id, product: 'probe', deviceKey: randomBytes(32), runningSha256: running }, now);
    repo.add({ id: 'v1', product: 'valve', deviceKey: randomBytes(32), runningSha256: sha('valve 1.0.0') }, now);
    // A patch from 1.0.0 only: the 0.9.0 device cannot be served by multicast yet.
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', 4000, 1, ?)").run(sha('patch'), a, target, now);
    for (const [id, product, extra] of [['probe-up', 'probe', {}], ['valve-up', 'valve', {}], ['probe-paused', 'probe', { select: { devices: ['p1'] } }]] as const) {
      const r = await cli('rollout', 'apply', '--yes', rollout(id, product, extra));
      expect(r.code, r.stderr).toBe(0);
    }
    expect((await cli('rollout', 'pause', 'probe-paused')).code).toBe(0);
  });

  afterAll(() => {
    db?.close();
    tmp.cleanup();
  });

  it('queues one session per patch base, leaves out keyless and unpatched devices, and says why', async () => {
    const r = await cli('lora', 'multicast', 'start', '--rollout', 'probe-up');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unicast: p5 \(no genAppKey under lora\.devices\.70b3d57ed0000005\)/);
    expect(r.stdout).toMatch(/queued: session mc-[0-9a-f]{6}, 3 devices, 1\.0\.0 -> 1\.1\.0, patch 3\.9 KiB/);
    expect(r.stdout).toMatch(/skipped: 1 device\(s\) on 0\.9\.0: no patch to the release yet \(furrow delta build --from 0\.9\.0 --to 1\.1\.0\)/);
    const [s] = new MulticastRepo(db).list({ rolloutId: 'probe-up' });
    expect(s).toMatchObject({ state: 'queued', origin: 'cli', fromSha256: a, toSha256: target, patchSize: 4000 });
    expect(new MulticastRepo(db).members(s!.id).map((m) => [m.deviceId, m.devEui])).toEqual([
      ['p1', '70b3d57ed0000001'],
      ['p2', '70b3d57ed0000002'],
      ['p3', '70b3d57ed0000003'],
    ]);
    // Devices already in a queued session are not queued twice.
    const again = await cli('lora', 'multicast', 'start', '--rollout', 'probe-up', '--min', '2');
    expect(again.code).toBe(2);
    expect(again.stdout).toMatch(/skipped: 1 device\(s\) on [0-9a-f]{12}: fewer than --min 2/);
    expect(again.stderr).toMatch(/no multicast session queued for rollout probe-up wave 0/);

    const status = await cli('lora', 'multicast', 'status');
    expect(status.stdout).toMatch(new RegExp(`${s!.id}  probe-up wave 0  queued    \\[-{20}\\]   0%  fragments -  devices 0/3 done, 3 missing, 0 failed`));
    const one = await cli('lora', 'multicast', 'status', s!.id);
    expect(one.stdout).toMatch(/p1 +70b3d57ed0000001 +setup +- +0/);
    const cancel = await cli('lora', 'multicast', 'cancel', s!.id);
    expect(cancel.code).toBe(0);
    expect(new MulticastRepo(db).get(s!.id)?.cancelRequested).toBe(true);
    // What the daemon does next; --watch then prints the last state once and ends.
    new MulticastRepo(db).setState(s!.id, 'cancelled', Date.now(), 'cancelled by the operator');
    const watched = await cli('lora', 'multicast', 'status', '--watch');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(new RegExp(`^${s!.id}  probe-up wave 0  cancelled .* devices 0/3 done, 3 missing, 0 failed  \\(cancelled by the operator\\)\n$`));
  });

  it('refuses with exit 2 and names the problem: unknown rollout, no LoRa devices, paused, bad wave, no lora section', async () => {
    const unknown = await cli('lora', 'multicast', 'start', '--rollout', 'nope');
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringMatching(/no rollout named "nope"\n {2}hint: known: .*probe-up/)]);
    const none = await cli('lora', 'multicast', 'start', '--rollout', 'valve-up');
    expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(/wave 0 of rollout valve-up has no LoRa device waiting for the update\n {2}hint: LoRa devices are the DevEUIs under lora\.devices/)]);
    const paused = await cli('lora', 'multicast', 'start', '--rollout', 'probe-paused');
    expect([paused.code, paused.stderr]).toEqual([2, expect.stringMatching(/rollout probe-paused is paused\n {2}hint: furrow rollout resume probe-paused first/)]);
    const wave = await cli('lora', 'multicast', 'start', '--rollout', 'probe-up', '--wave', '3');
    expect([wave.code, wave.stderr]).toEqual([2, expect.stringMatching(/rollout probe-up has waves 0\.\.0, not 3/)]);
    const word = await cli('lora', 'multicast', 'start', '--rollout', 'probe-up', '--wave', 'first');
    expect([word.code, word.stderr]).toEqual([2, expect.stringMatching(/--wave must be a whole number \(0 or more\), got "first"/)]);
    const noLora = await runFurrowInProcess(['--config', bare, 'lora', 'multicast', 'start', '--rollout', 'probe-up']);
    expect([noLora.code, noLora.stderr]).toEqual([2, expect.stringMatching(/bare\.yaml has no lora: section/)]);
    const ghost = await cli('lora', 'multicast', 'cancel', 'mc-000000');
    expect([ghost.code, ghost.stderr]).toEqual([2, expect.stringMatching(/no multicast session "mc-000000"/)]);
  });

  it('holds a member back from unicast only while its session runs and it lacks data, and never pulls a failed-over one back in', async () => {
    const repo = new MulticastRepo(db);
    const now = Date.now();
    const id = repo.create({ rolloutId: 'probe-up', wave: 0, fromSha256: b, toSha256: target, patchId: sha('x'), patchSize: 10, origin: 'rollout', members: [{ deviceId: 'p4', devEui: '70b3d57ed0000004' }] }, now);
    expect(repo.holding('p4')?.id).toBe(id);
    // Once it holds the whole patch it checks in as usual, for the manifest.
    repo.saveMember(id, '70b3d57ed0000004', { state: 'complete', repairFragments: 0 }, now);
    expect(repo.holding('p4')).toBeUndefined();
    repo.saveMember(id, '70b3d57ed0000004', { state: 'ready', repairFragments: 0 }, now);
    repo.setState(id, 'done', now);
    expect(repo.holding('p4')).toBeUndefined(); // the session is over: unicast at once
    repo.saveMember(id, '70b3d57ed0000004', { state: 'failed', repairFragments: 2, reason: 'still missing fragments' }, now);
    expect(repo.resumeState(repo.get(id)!)).toBeUndefined(); // no group was ever set up
    const r = await cli('lora', 'multicast', 'start', '--rollout', 'probe-up');
    expect(r.stdout).toMatch(/unicast: p4 \(failed over from an earlier multicast session\)/);
  });
});
