import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, type FurrowEvents } from '../../../src/events.ts';
import { silentLogger } from '../../../src/log.ts';
import type { CheckinFacts } from '../../../src/policy.ts';
import { RolloutEngine } from '../../../src/rollout/engine.ts';
import { loadRolloutFile } from '../../../src/rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../../src/rollout/plan.ts';
import { applyVerb } from '../../../src/rollout/transitions.ts';
import { scheduleConfigSchema } from '../../../src/schedule/config.ts';
import { Scheduler } from '../../../src/schedule/scheduler.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';
import { RolloutRepo } from '../../../src/store/rollouts.ts';
import { fleet, type Fleet } from './fixture.ts';

let f: Fleet | undefined;
afterEach(() => f?.close());

const THREE_WAVES = `
release: { product: soil-probe, version: 2.0.0 }
waves:
  - { name: canary, size: 10%, soak: 1h }
  - { size: 30%, soak: 30m }
  - { size: rest }
halt: { maxFailureRate: 10%, maxRollbacks: 50, minFinished: 5 }
`;

function setup(n: number, yaml: string, schedule = scheduleConfigSchema.parse({})) {
  f = fleet(n);
  const file = f.write('r.yaml', yaml);
  const spec = loadRolloutFile(file);
  const plan = planRollout(spec, { file, text: readFileSync(file, 'utf8') }, f.db, { schedule, patches: patchesTableLookup(f.db), now: f.clock.now() });
  applyPlan(f.db, plan, file, f.clock.now());
  const events: Array<FurrowEvents['rollout.state']> = [];
  const bus = new EventBus(silentLogger());
  bus.on('rollout.state', 'test', (e) => void events.push(e));
  const scheduler = new Scheduler(schedule, f.clock, f.db);
  const make = () =>
    new RolloutEngine({ rollouts: new RolloutRepo(f!.db), devices: new DeviceRepo(f!.db), releases: new ReleaseRepo(f!.db), clock: f!.clock, log: silentLogger(), events: bus, slots: scheduler });
  const engine = make();
  engine.start();
  return { f: f!, plan, engine, events, repo: new RolloutRepo(f.db), make, scheduler };
}

const facts = (f: Fleet, id: string, running = f.v1): CheckinFacts => ({ deviceId: id, product: 'soil-probe', runningSha256: running, bearer: 'udp' });

/** Every device checks in once; those offered the update finish it (fail if `fails(id)`). */
function round(s: ReturnType<typeof setup>, fails: (id: string) => boolean = () => false): number {
  let offered = 0;
  for (const id of s.f.ids) {
    const d = s.engine.decide(facts(s.f, id));
    if (d.kind !== 'update') continue;
    offered++;
    s.engine.onReport({ deviceId: id, status: 'downloading' });
    s.engine.onReport({ deviceId: id, status: 'applied' });
    if (fails(id)) s.engine.onReport({ deviceId: id, status: 'failed', reason: 'self-test: sensor bus timeout' });
    else s.engine.onReport({ deviceId: id, status: 'booted', releaseSha256: d.releaseSha256 });
  }
  return offered;
}

describe('rollout engine', () => {
  it('offers the update to the canary wave only, then the next wave after the soak', () => {
    const s = setup(100, THREE_WAVES);
    expect(round(s)).toBe(10);
    expect(s.repo.get('r')!.currentWave).toBe(0);
    expect(round(s)).toBe(0); // soaking: nobody else yet
    s.f.clock.advance(59 * 60_000);
    s.engine.tick(true);
    expect(round(s)).toBe(0);
    s.f.clock.advance(61_000);
    s.engine.tick(true);
    expect(s.repo.get('r')!.currentWave).toBe(1);
    expect(round(s)).toBe(30);
    s.f.clock.advance(30 * 60_000 + 1000);
    s.engine.tick(true);
    expect(round(s)).toBe(60);
    s.engine.tick(true);
    expect(s.repo.get('r')!.state).toBe('completed');
    expect(s.events.map((e) => e.state)).toContain('completed');
  });

  it('halts before wave 2 when 30 % of the canary fails its self-test, and says why', () => {
    const s = setup(200, THREE_WAVES);
    const canary = s.plan.waves[0]!.deviceIds;
    const failing = new Set(canary.slice(0, Math.round(canary.length * 0.3)));
    round(s, (id) => failing.has(id));
    const r = s.repo.get('r')!;
    expect(r.state).toBe('halted');
    expect(r.currentWave).toBe(0);
    expect(r.reason).toMatch(/wave canary: \d+ of \d+ finished devices failed \(\d+(\.\d)?% > 10%\)/);
    expect(s.events.find((e) => e.state === 'halted')?.reason).toBe(r.reason);
    s.f.clock.advance(24 * 3600_000);
    s.engine.tick(true);
    expect(round(s)).toBe(0);
    const reasons = s.repo.members('r', { states: ['failed'] }).map((m) => m.reason);
    expect(new Set(reasons)).toEqual(new Set(['self-test: sensor bus timeout']));
  });

  it('halts on the rollback limit', () => {
    const s = setup(50, THREE_WAVES.replace('maxRollbacks: 50', 'maxRollbacks: 2'));
    const canary = s.plan.waves[0]!.deviceIds;
    for (const id of canary.slice(0, 2)) {
      s.engine.decide(facts(s.f, id));
      s.engine.onReport({ deviceId: id, status: 'rolled_back', reason: 'watchdog reset after boot' });
    }
    expect(s.repo.get('r')!).toMatchObject({ state: 'halted', reason: '2 devices rolled back (limit 2)' });
  });

  it('keeps waves and served soak time across a restart', () => {
    const s = setup(100, THREE_WAVES);
    round(s);
    s.f.clock.advance(40 * 60_000);
    s.engine.tick(true);
    s.engine.stop();
    // A new engine (daemon restart) on a monotonic clock that restarted elsewhere.
    s.f.clock.advance(5 * 60_000);
    const again = s.make();
    again.start();
    s.f.clock.advance(19 * 60_000);
    again.tick(true);
    expect(s.repo.get('r')!.currentWave).toBe(0);
    s.f.clock.advance(2 * 60_000);
    again.tick(true);
    expect(s.repo.get('r')!.currentWave).toBe(1);
    const wave1 = new Set(s.plan.waves[1]!.deviceIds);
    const offered = s.f.ids.filter((id) => again.decide(facts(s.f, id)).kind === 'update');
    expect(new Set(offered)).toEqual(wave1);
  });

  it('pauses, resumes and aborts by operator verbs, refusing the ones that do not apply', () => {
    const s = setup(20, THREE_WAVES);
    applyVerb(s.repo, 'r', 'pause', null, s.f.clock.now());
    s.engine.tick(true);
    expect(round(s)).toBe(0);
    expect(() => applyVerb(s.repo, 'r', 'pause', null, 0)).toThrow(/cannot pause rollout r: it is paused/);
    applyVerb(s.repo, 'r', 'resume', null, s.f.clock.now());
    s.engine.tick(true);
    expect(round(s)).toBe(2);
    applyVerb(s.repo, 'r', 'abort', 'wrong build', s.f.clock.now());
    s.engine.tick(true);
    expect(() => applyVerb(s.repo, 'r', 'resume', null, 0)).toThrow(/it is aborted/);
    expect(() => applyVerb(s.repo, 'nope', 'halt', null, 0)).toThrow(/no rollout named "nope"/);
    expect(s.events.map((e) => e.state)).toEqual(expect.arrayContaining(['paused', 'running', 'aborted']));
  });

  it('answers "come back at T" in a maintenance window and after the deadline stops', () => {
    const s = setup(20, THREE_WAVES + 'windows:\n  timezone: Europe/Berlin\n  deny: [{ from: "10:30", to: "12:00", reason: milking }]\ndeadline: "2026-11-26T00:00:00Z"\n');
    // 10:00 UTC = 11:00 Berlin: inside; open again at 12:00 Berlin = 11:00 UTC.
    const id = s.plan.waves[0]!.deviceIds[0]!;
    expect(s.engine.decide(facts(s.f, id))).toEqual({ kind: 'later', retryAfterSeconds: 3600, reason: 'maintenance window 10:30-12:00 Europe/Berlin (milking)' });
    s.f.clock.advance(3600_000);
    expect(s.engine.decide(facts(s.f, id)).kind).toBe('update');
    s.f.clock.advance(14 * 3600_000);
    s.engine.tick(true);
    expect(s.repo.get('r')!).toMatchObject({ state: 'expired', reason: 'deadline 2026-11-26T00:00:00Z passed' });
  });

  it('pauses when the byte budget is spent, and says so', () => {
    const s = setup(20, THREE_WAVES.replace('size: 10%', 'size: 3') + 'budget: 1MB\n');
    const canary = s.plan.waves[0]!.deviceIds;
    expect(s.engine.decide(facts(s.f, canary[0]!)).kind).toBe('update');
    expect(s.engine.decide(facts(s.f, canary[1]!)).kind).toBe('update');
    // 2 × 400 000 offered; a third image would pass 1 000 000.
    expect(s.engine.decide(facts(s.f, canary[2]!))).toMatchObject({ kind: 'later', reason: expect.stringMatching(/byte budget of 1000000 bytes is spent \(800000 offered\)/) });
    expect(s.repo.get('r')!).toMatchObject({ state: 'paused', reason: expect.stringMatching(/byte budget/) });
  });

  it('tells a device to come back when its bearer has no free transfer slot', () => {
    const schedule = scheduleConfigSchema.parse({ bearers: { udp: { kind: 'nbiot', maxConcurrent: { ce0: 1, ce1: 1, ce2: 1 } } } });
    const s = setup(20, THREE_WAVES.replace('size: 10%', 'size: 4'), schedule);
    const [a, b] = s.plan.waves[0]!.deviceIds;
    expect(s.engine.decide(facts(s.f, a!)).kind).toBe('update');
    const later = s.engine.decide(facts(s.f, b!));
    expect(later).toMatchObject({ kind: 'later', reason: expect.stringMatching(/1 transfer running on udp\/cell:ce1 \(limit 1\)/) });
    if (later.kind === 'later') expect(later.retryAfterSeconds).toBeGreaterThan(100);
  });
});
