import { describe, expect, it } from 'vitest';
import { loraLimits } from '../../../src/schedule/bearer-model.ts';
import { scheduleConfigSchema, type LoraBearerConfig } from '../../../src/schedule/config.ts';
import { loraTransferPlan } from '../../../src/schedule/lora-plan.ts';
import { Scheduler } from '../../../src/schedule/scheduler.ts';

// Grants idle out after an hour here: these devices ask for no blocks in between.
const cfg = scheduleConfigSchema.parse({ grantIdleSeconds: 3600, bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 9, maxConcurrentTransfers: 2, controlReservePercent: 3 } } });
const model = cfg.bearers.lora as LoraBearerConfig;

function scheduler() {
  const clock = { t: 1_000_000, now: () => Date.parse('2026-11-25T08:00:00Z') + clock.t, monotonic: () => clock.t };
  return { s: new Scheduler(cfg, clock), clock };
}

describe('LoRa transfer calendar', () => {
  const plan = loraTransferPlan(model, loraLimits(model), 1024);

  it('books each transfer its frames at the paced duty cycle, shared by the lanes', () => {
    // 16 patch + 5 manifest blocks (a manifest is 270-300 bytes) of ~0.5 s at SF9, plus three short
    // replies: ~12 s of airtime.
    expect(plan.blocks).toBe(21);
    expect(plan.airtimeMs).toBeGreaterThan(11_000);
    expect(plan.airtimeMs).toBeLessThan(13_000);
    expect(plan.laneMs).toBeCloseTo((2 * plan.airtimeMs) / (0.1 * 0.97), 6);
    expect(plan.blockIntervalMs * plan.blocks).toBeCloseTo(plan.laneMs, 6);
  });

  it('grants one transfer per lane and gives the others staggered start times, not one guess', () => {
    const { s } = scheduler();
    const ask = (id: string) => s.requestTransfer({ deviceId: id, bearer: 'lora', bytes: 1024 });
    expect(ask('a').ok).toBe(true);
    expect(ask('b').ok).toBe(true);
    const waits = ['c', 'd', 'e', 'f'].map((id) => {
      const r = ask(id);
      if (r.ok) throw new Error(`${id} must wait`);
      return r.retryAfterSeconds * 1000;
    });
    // Each "come back later" takes channel time too (p): the bookings after it start that much later.
    const L = plan.laneMs;
    const p = plan.laterMs;
    expect(waits[0]).toBeCloseTo(L, 0);
    expect(waits[1]).toBeCloseTo(L + p, 0);
    expect(waits[2]).toBeCloseTo(2 * L + 2 * p, 0);
    expect(waits[3]).toBeCloseTo(2 * L + 3 * p, 0);
  });

  it('offers the update to a device that comes back at its time, without a second "later"', () => {
    const { s, clock } = scheduler();
    const ask = (id: string) => s.requestTransfer({ deviceId: id, bearer: 'lora', bytes: 1024 });
    ask('a');
    ask('b');
    const c = ask('c');
    if (c.ok) throw new Error('c must wait');
    // Asking again early changes nothing: same booked time.
    clock.t += 1000;
    const again = ask('c');
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.retryAfterSeconds).toBeCloseTo(c.retryAfterSeconds - 1, 3);
    s.releaseTransfer('a');
    clock.t += c.retryAfterSeconds * 1000 - 1000;
    expect(ask('c').ok).toBe(true);
  });

  it('books a device again, once, when it comes at its time and the lanes are still busy', () => {
    const { s, clock } = scheduler();
    const ask = (id: string) => s.requestTransfer({ deviceId: id, bearer: 'lora', bytes: 1024 });
    const start = clock.t;
    for (const id of ['a', 'b', 'c', 'd']) ask(id); // a, b run; c, d booked after them
    clock.t = start + plan.laneMs + 2 * plan.laterMs; // a and b ran long: neither has finished
    expect(ask('c').ok).toBe(true); // one more than the lanes may overlap
    const d = ask('d'); // lanes still busy: booked anew, after everything booked so far
    if (d.ok) throw new Error('d must wait');
    expect(d.retryAfterSeconds * 1000).toBeGreaterThan(plan.laneMs / 2);
    // Asking again soon changes nothing: the same new time, not another short round.
    clock.t += 5000;
    const again = ask('d');
    if (again.ok) throw new Error('d must still wait');
    expect(again.retryAfterSeconds).toBeCloseTo(d.retryAfterSeconds - 5, 3);
  });

  it('serves a waiting device at once when a lane stands idle (a transfer abandoned early)', () => {
    const { s, clock } = scheduler();
    const ask = (id: string) => s.requestTransfer({ deviceId: id, bearer: 'lora', bytes: 1024 });
    ask('a');
    ask('b');
    expect(ask('c').ok).toBe(false);
    clock.t += 60_000;
    s.releaseTransfer('a');
    expect(ask('c').ok).toBe(true);
  });

  it('advises the cadence and the idle check-in only on the duty-cycled bearer', () => {
    const { s } = scheduler();
    expect(s.dutyCycled('lora')).toBe(true);
    expect(s.blockIntervalMs('lora', 1024)).toBe(Math.floor(plan.blockIntervalMs));
    expect(s.idleCheckinSeconds('lora')).toBe(86_400);
    expect(s.dutyCycled('udp')).toBe(false);
    expect(s.blockIntervalMs('udp', 1024)).toBeUndefined();
    expect(s.idleCheckinSeconds('udp')).toBeUndefined();
  });
});
