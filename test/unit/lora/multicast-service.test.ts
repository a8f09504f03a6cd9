import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoraMulticastService } from '../../../src/bearer/lora/fuota/service.ts';
import { MulticastRepo } from '../../../src/bearer/lora/fuota/store.ts';
import type { LoraTransport } from '../../../src/bearer/lora/transport.ts';
import { systemClock } from '../../../src/clock.ts';
import { configSchema, type Config } from '../../../src/config/index.ts';
import type { DaemonContext } from '../../../src/context.ts';
import { EventBus } from '../../../src/events.ts';
import { silentLogger } from '../../../src/log.ts';
import type { CheckinFacts, PatchProvider, UpdatePolicy } from '../../../src/policy.ts';
import { BlobStore } from '../../../src/release/blob-store.ts';
import { parseRolloutText } from '../../../src/rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../../src/rollout/plan.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';
import { RolloutRepo } from '../../../src/store/rollouts.ts';
import { tempDir } from '../../helpers/tmp.ts';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const [base, target] = [sha('base'), sha('target')];

/**
 * The service's decisions that need no radio: when a rollout wave gets a session, who is held back
 * from unicast, and how a session that cannot run fails its members over. A session that does start
 * needs ChirpStack; those runs are in test/integration/lora-multicast-rollout.test.ts.
 */
describe('LoraMulticastService scan and hold', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let svc: LoraMulticastService | undefined;
  const asked: string[] = [];
  const inner: UpdatePolicy = {
    decide: (f) => {
      asked.push(f.deviceId);
      return { kind: 'update', releaseSha256: target };
    },
  };
  const facts = (deviceId: string): CheckinFacts => ({ deviceId, product: 'probe', runningSha256: base, bearer: 'lora' });

  const setup = (devices: number, minGroupSize: number, extra: Record<string, unknown> = {}, patches?: PatchProvider): { ctx: DaemonContext; svc: LoraMulticastService } => {
    const loraDevices: Record<string, unknown> = {};
    const now = Date.now();
    const releases = new ReleaseRepo(db);
    releases.insert({ sha256: base, product: 'probe', version: '1.0.0', secureVersion: 1, size: 1000, chip: 'esp32', appVersion: null, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: now });
    releases.insert({ sha256: target, product: 'probe', version: '1.1.0', secureVersion: 1, size: 1000, chip: 'esp32', appVersion: null, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: now });
    for (let i = 1; i <= devices; i++) {
      new DeviceRepo(db).add({ id: `p${i}`, product: 'probe', deviceKey: randomBytes(32), runningSha256: base }, now);
      loraDevices[`70b3d57ed000000${i}`] = { deviceId: `p${i}`, genAppKey: randomBytes(16).toString('hex') };
    }
    const config: Config = configSchema.parse({
      data: { dir: tmp.dir },
      lora: { chirpstack: { applicationId: 'app', apiUrl: 'http://127.0.0.1:9' }, devices: loraDevices },
      schedule: { bearers: { 'lora-mc': { kind: 'lora', region: 'eu868' } } },
      ...extra,
    });
    const text = stringify({ id: 'r1', release: { product: 'probe', version: '1.1.0' }, waves: [{ size: 'rest' }], delivery: { lora: 'multicast', minGroupSize } });
    applyPlan(db, planRollout(parseRolloutText(text, 'r1.yaml'), { file: 'r1.yaml', text }, db, { schedule: config.schedule, patches: patchesTableLookup(db), now }), 'r1.yaml', now);
    const log = silentLogger();
    const ctx: DaemonContext = { config, configFile: join(tmp.dir, 'furrow.yaml'), log, db, blobs: new BlobStore(join(tmp.dir, 'blobs')), events: new EventBus(log), clock: systemClock };
    // No session here reaches the radio (the patch blob is absent or the config refuses first).
    svc = new LoraMulticastService(ctx, { transport: {} as LoraTransport, gate: { admit: () => ({ ok: true }) }, ...(patches ? { patches } : {}) });
    return { ctx, svc };
  };

  const addPatch = (): void => {
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', 500, 1, ?)").run(sha('patch'), base, target, Date.now());
  };

  beforeEach(() => {
    tmp = tempDir('furrow-lora-mc-svc-');
    db = openDatabase(join(tmp.dir, 'furrow.db'));
    asked.length = 0;
  });

  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
    db.close();
    tmp.cleanup();
  });

  it('leaves a group smaller than minGroupSize to unicast', () => {
    const { svc } = setup(2, 3);
    addPatch();
    svc.tick();
    expect(new MulticastRepo(db).list()).toEqual([]);
    expect(svc.policy(inner).decide(facts('p1'))).toEqual({ kind: 'update', releaseSha256: target });
  });

  it('holds a big enough group while its patch is built, then fails a session whose patch blob is missing over to unicast', async () => {
    const requested: string[] = [];
    const { svc } = setup(3, 3, {}, { get: () => undefined, request: (f, t) => void requested.push(`${f}>${t}`) });
    svc.tick();
    expect(requested).toEqual([`${base}>${target}`]);
    expect(svc.policy(inner).decide(facts('p2'))).toMatchObject({ kind: 'later', reason: 'waiting for a LoRa multicast session' });
    expect(asked).toEqual([]);
    addPatch();
    svc.tick(); // queues the session and starts it: the blob store does not have the patch
    const repo = new MulticastRepo(db);
    while (repo.list()[0]?.state !== 'failed') await new Promise((r) => setImmediate(r));
    const [s] = repo.list();
    expect(s).toMatchObject({ state: 'failed', reason: `patch blob ${sha('patch').slice(0, 12)} is missing from the blob store`, origin: 'rollout' });
    expect(repo.members(s!.id).every((m) => m.state === 'failed')).toBe(true);
    expect(new RolloutRepo(db).members('r1', { states: ['pending'] }).length).toBe(3);
    svc.tick();
    expect(repo.list().length).toBe(1); // failed-over devices are not queued again
    expect(svc.policy(inner).decide(facts('p2'))).toEqual({ kind: 'update', releaseSha256: target });
  });

  it('offers a member that rebuilt the broadcast patch that patch, whatever else is built for the move', () => {
    const { svc } = setup(2, 5);
    const repo = new MulticastRepo(db);
    const id = repo.create(
      { rolloutId: 'r1', wave: 0, fromSha256: base, toSha256: target, patchId: sha('broadcast'), patchSize: 500, origin: 'rollout', members: [{ deviceId: 'p1', devEui: 'e1' }, { deviceId: 'p2', devEui: 'e2' }] },
      Date.now(),
    );
    repo.saveMember(id, 'e1', { state: 'complete', repairFragments: 0 }, Date.now());
    repo.saveMember(id, 'e2', { state: 'failed', reason: 'missed fragments', repairFragments: 3 }, Date.now());
    repo.setState(id, 'done', Date.now());
    expect(svc.policy(inner).decide(facts('p1'))).toEqual({ kind: 'update', releaseSha256: target, patchId: sha('broadcast') });
    expect(svc.policy(inner).decide(facts('p2'))).toEqual({ kind: 'update', releaseSha256: target });
  });

  it('does not queue sessions a config cannot run (no schedule bearer for the fragments)', () => {
    const { svc } = setup(3, 2, { schedule: { bearers: {} } });
    addPatch();
    svc.tick();
    expect(new MulticastRepo(db).list()).toEqual([]);
    expect(svc.policy(inner).decide(facts('p3')).kind).toBe('update');
  });
});
