import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { chainGates, type TransmitGate, type UpdatePolicy } from '../../src/policy.ts';
import { RolloutEngine } from '../../src/rollout/engine.ts';
import { loadRolloutFile } from '../../src/rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../src/rollout/plan.ts';
import { scheduleConfigSchema } from '../../src/schedule/config.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { RolloutRepo } from '../../src/store/rollouts.ts';
import { TestDevice } from './coap-device.ts';
import { startHarness, type Harness } from './coap-harness.ts';

/** Wall time set by the test (the window calendar); monotonic time moves forward with it. */
function testClock(iso: string) {
  let wall = Date.parse(iso);
  let mono = 1_000;
  return {
    now: () => wall,
    monotonic: () => mono,
    set(next: string) {
      const t = Date.parse(next);
      mono += Math.max(0, t - wall);
      wall = t;
    },
  };
}

const maxAge = (b: Buffer | undefined) => (b ?? Buffer.alloc(0)).reduce((a, x) => a * 256 + x, 0);

describe('a maintenance window over the CoAP service', () => {
  let h: Harness | undefined;
  let dev: TestDevice | undefined;
  afterEach(async () => {
    dev?.close();
    await h?.stop(true);
    h = dev = undefined;
  });

  it('answers 5.03 with Max-Age to the window end for a download begun before it, then the download resumes and completes', async () => {
    const clock = testClock('2026-11-25T03:55:00Z'); // 04:55 in Berlin (CET), five minutes before milking
    let engine: RolloutEngine | undefined;
    let scheduler: Scheduler | undefined;
    // The service is built before the engine (which needs its DB), so it is handed thin forwarders.
    const policy: UpdatePolicy = { decide: (facts) => engine!.decide(facts) };
    const gate: TransmitGate = { admit: (...a) => chainGates(engine!, scheduler!).admit(...a) };
    h = await startHarness({ clock, patchSize: 4096, service: { policy, gate } });
    const file = join(h.dir, 'milking.yaml');
    writeFileSync(
      file,
      `release: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\nwindows:\n  timezone: Europe/Berlin\n  deny: [{ from: "05:00", to: "07:30", reason: milking }]\n`,
    );
    const schedule = scheduleConfigSchema.parse({});
    applyPlan(h.db, planRollout(loadRolloutFile(file), { file, text: readFileSync(file, 'utf8') }, h.db, { schedule, patches: patchesTableLookup(h.db), now: clock.now() }), file, clock.now());
    scheduler = new Scheduler(schedule, clock, h.db);
    engine = new RolloutEngine({ rollouts: new RolloutRepo(h.db), devices: new DeviceRepo(h.db), releases: new ReleaseRepo(h.db), clock, log: silentLogger(), slots: scheduler });
    engine.start();

    dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 40 });
    await dev.open();
    const c = await dev.checkin(h.baseSha256, h.product);
    expect(c.reply.code).toBe('2.05');
    const uri = c.map.get(4) as string;
    const first = await dev.download(uri, { szx: 6, stopAfterBlocks: 3 }); // 3 of 4 KiB
    expect(first.done).toBe(false);

    clock.set('2026-11-25T04:00:00Z'); // 05:00 CET: milking; the transfer is under way
    const held = await dev.request('GET', uri, { block2: { num: 3, szx: 6 } });
    expect(held.code).toBe('5.03');
    expect(maxAge(held.options.get('Max-Age'))).toBe(9000); // until 07:30 CET = 06:30 UTC
    expect(held.payload.toString()).toBe('maintenance window 05:00-07:30 Europe/Berlin (milking)');
    clock.set('2026-11-25T06:00:00Z');
    expect(maxAge((await dev.request('GET', uri, { block2: { num: 3, szx: 6 } })).options.get('Max-Age'))).toBe(1800);

    clock.set('2026-11-25T06:30:00Z'); // milking over
    const rest = await dev.download(uri, { szx: 6, offset: first.offset });
    expect(rest.done).toBe(true);
    expect(Buffer.concat([first.data, rest.data]).equals(h.patch)).toBe(true);
  });
});
