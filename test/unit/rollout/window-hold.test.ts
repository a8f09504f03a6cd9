import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.ts';
import { chainGates, type AdmitResult, type TransferRef, type TransmitGate } from '../../../src/policy.ts';
import { RolloutEngine } from '../../../src/rollout/engine.ts';
import { loadRolloutFile } from '../../../src/rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../../src/rollout/plan.ts';
import { scheduleConfigSchema } from '../../../src/schedule/config.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';
import { RolloutRepo } from '../../../src/store/rollouts.ts';
import { fleet, shaOf, type Fleet } from './fixture.ts';

let f: Fleet | undefined;
afterEach(() => f?.close());

const utc = (s: string) => Date.parse(s);

/** Milking 05:00-07:30 Berlin time: 03:00-05:30 UTC in summer time (CEST), 04:00-06:30 UTC in winter (CET). */
const MILKING = `
release: { product: soil-probe, version: 2.0.0 }
waves:
  - { size: rest }
windows:
  timezone: Europe/Berlin
  deny: [{ from: "05:00", to: "07:30", reason: milking }]
`;

/** A substituted clock: wall time set by the test, monotonic time only ever moving forward with it. */
function testClock(startIso: string) {
  let wall = utc(startIso);
  let mono = 1_000;
  return {
    now: () => wall,
    monotonic: () => mono,
    set(iso: string) {
      const t = utc(iso);
      mono += Math.max(0, t - wall);
      wall = t;
    },
  };
}

function setup(startIso: string) {
  f = fleet(3);
  const clock = testClock(startIso);
  const file = f.write('r.yaml', MILKING);
  const plan = planRollout(loadRolloutFile(file), { file, text: readFileSync(file, 'utf8') }, f.db, {
    schedule: scheduleConfigSchema.parse({}),
    patches: patchesTableLookup(f.db),
    now: clock.now(),
  });
  applyPlan(f.db, plan, file, clock.now());
  const engine = new RolloutEngine({ rollouts: new RolloutRepo(f.db), devices: new DeviceRepo(f.db), releases: new ReleaseRepo(f.db), clock, log: silentLogger() });
  engine.start();
  // Stands in for the scheduler behind the engine: counts the blocks that reach it.
  const behind = { asked: 0, admit: (): AdmitResult => (behind.asked++, { ok: true }) };
  const gate: TransmitGate = chainGates(engine, behind);
  return { f: f!, clock, engine, gate, behind };
}

const block = (gate: TransmitGate, deviceId: string, transfer: TransferRef) => gate.admit('udp', deviceId, 512, transfer);

describe('maintenance windows hold transfers already under way', () => {
  it('pauses a download started before the window inside it, with Max-Age to the window end, and resumes after', () => {
    const s = setup('2026-11-25T03:50:00Z'); // 04:50 CET, ten minutes before milking
    const id = s.f.ids[0]!;
    const d = s.engine.decide({ deviceId: id, product: 'soil-probe', runningSha256: s.f.v1, bearer: 'udp' });
    expect(d).toEqual({ kind: 'update', releaseSha256: s.f.v2, rolloutId: 'r' });
    const t: TransferRef = { patchId: shaOf('patch v1->v2'), releaseSha256: s.f.v2 };
    s.engine.onReport({ deviceId: id, status: 'downloading' });
    expect(block(s.gate, id, t)).toEqual({ ok: true });

    s.clock.set('2026-11-25T04:00:00Z'); // 05:00 CET: milking starts
    expect(block(s.gate, id, t)).toEqual({ ok: false, retryAfterSeconds: 9000, reason: 'maintenance window 05:00-07:30 Europe/Berlin (milking)' });
    s.clock.set('2026-11-25T06:29:59Z');
    expect(block(s.gate, id, t)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    // Held blocks never reach the scheduler, so nothing is charged to the duty cycle for them.
    expect(s.behind.asked).toBe(1);

    s.clock.set('2026-11-25T06:30:00Z'); // 07:30 CET: milking over
    expect(block(s.gate, id, t)).toEqual({ ok: true });
    expect(s.behind.asked).toBe(2);
  });

  it('holds at the local window across the autumn DST change (CEST on 24 October, CET on 25 October 2026)', () => {
    const s = setup('2026-10-24T02:50:00Z'); // 04:50 CEST
    const id = s.f.ids[1]!;
    expect(s.engine.decide({ deviceId: id, product: 'soil-probe', runningSha256: s.f.v1, bearer: 'udp' }).kind).toBe('update');
    const t: TransferRef = { patchId: shaOf('patch'), releaseSha256: s.f.v2 };
    expect(block(s.gate, id, t)).toEqual({ ok: true });
    s.clock.set('2026-10-24T03:00:00Z'); // 05:00 CEST
    expect(block(s.gate, id, t)).toMatchObject({ ok: false, retryAfterSeconds: 9000 });
    s.clock.set('2026-10-24T05:30:00Z'); // 07:30 CEST
    expect(block(s.gate, id, t)).toEqual({ ok: true });
    // Next morning the clocks went back an hour: 03:30 UTC is 04:30 CET, still before milking.
    s.clock.set('2026-10-25T03:30:00Z');
    expect(block(s.gate, id, t)).toEqual({ ok: true });
    s.clock.set('2026-10-25T04:00:00Z'); // 05:00 CET
    expect(block(s.gate, id, t)).toMatchObject({ ok: false, retryAfterSeconds: 9000 });
    s.clock.set('2026-10-25T06:30:00Z'); // 07:30 CET
    expect(block(s.gate, id, t)).toEqual({ ok: true });
  });

  it('lets through blocks of a transfer the rollout did not hand out', () => {
    const s = setup('2026-11-25T04:30:00Z'); // inside milking
    const t: TransferRef = { patchId: shaOf('p'), releaseSha256: s.f.v2 };
    // Not offered by the rollout (no check-in while it ran), another release, and no transfer named at all.
    expect(block(s.gate, s.f.ids[2]!, t)).toEqual({ ok: true });
    expect(block(s.gate, s.f.ids[2]!, { ...t, releaseSha256: shaOf('v3') })).toEqual({ ok: true });
    expect(s.gate.admit('udp', s.f.ids[2]!, 512)).toEqual({ ok: true });
    expect(s.behind.asked).toBe(3);
  });

  it('stops holding once the device has finished with the rollout', () => {
    const s = setup('2026-11-25T03:50:00Z');
    const id = s.f.ids[0]!;
    expect(s.engine.decide({ deviceId: id, product: 'soil-probe', runningSha256: s.f.v1, bearer: 'udp' }).kind).toBe('update');
    const t: TransferRef = { patchId: shaOf('patch'), releaseSha256: s.f.v2 };
    s.clock.set('2026-11-25T04:10:00Z');
    expect(block(s.gate, id, t).ok).toBe(false);
    s.engine.onReport({ deviceId: id, status: 'failed', reason: 'self-test' });
    expect(block(s.gate, id, t)).toEqual({ ok: true });
  });
});
