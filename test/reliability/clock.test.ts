/**
 * Clock jumps. The gateway (a Pi without RTC) boots with a wall clock anywhere (1970, or the last saved
 * fake-hwclock time) and NTP steps it later; operators and GPS can step it too. The rule (src/clock.ts):
 * durations (duty-cycle buckets, link rate, transfer-slot idle time, CoAP peer rate limits, soak timers)
 * run on the monotonic clock, so no wall jump can mint, drain or stretch them; calendar things
 * (maintenance windows, daily/monthly SIM budgets, DB timestamps) follow the wall clock by design.
 */
import { describe, expect, it } from 'vitest';
import type { PeerAddress } from '../../src/bearer/types.ts';
import type { Clock } from '../../src/clock.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { silentLogger } from '../../src/log.ts';
import { windowVerdict } from '../../src/rollout/windows.ts';
import { scheduleConfigSchema } from '../../src/schedule/config.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { Throttle } from '../../src/telemetry/messages.ts';
import { EventBus } from '../../src/events.ts';
import { RolloutEngine } from '../../src/rollout/engine.ts';
import { loadRolloutFile } from '../../src/rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../src/rollout/plan.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { RolloutRepo } from '../../src/store/rollouts.ts';
import { fleet } from '../unit/rollout/fixture.ts';

const HOUR = 3_600_000;
const YEAR = 365 * 24 * HOUR;

/** Wall and monotonic time moved separately by the test. */
class ManualClock implements Clock {
  constructor(
    public wall: number,
    public mono = 1_000_000,
  ) {}
  now(): number {
    return this.wall;
  }
  monotonic(): number {
    return this.mono;
  }
  /** Real time passes: both clocks move. */
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
  /** Someone steps the wall clock (NTP at boot, an operator, a GPS glitch). */
  jump(ms: number): void {
    this.wall += ms;
  }
}

const T0 = Date.parse('2026-11-25T10:00:00Z');

function loraScheduler(clock: Clock, extra: Record<string, unknown> = {}): Scheduler {
  return new Scheduler(scheduleConfigSchema.parse({ bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g', sf: 9, ...extra } } }), clock);
}

/** Sends until the gate refuses; returns the airtime sent and the refusal. */
function drain(s: Scheduler, clock: ManualClock, bytes = 100): { sent: number; retryMs: number } {
  let sent = 0;
  for (let i = 0; i < 10_000; i++) {
    const r = s.admit('lora', 'dev-1', bytes);
    if (!r.ok) return { sent, retryMs: r.retryAfterSeconds * 1000 };
    sent += s.frameAirtimeMs('lora', bytes)!;
    clock.advance(1);
  }
  throw new Error('gate never refused');
}

describe('clock jumps at runtime and at boot', () => {
  for (const [name, step] of [['forward 3 hours', 3 * HOUR], ['forward 5 years', 5 * YEAR], ['backward 3 hours', -3 * HOUR], ['backward 5 years', -5 * YEAR]] as const) {
    it(`mints no LoRa airtime when the wall clock jumps ${name} while the duty cycle is used up`, () => {
      const clock = new ManualClock(T0);
      const s = loraScheduler(clock);
      clock.advance(5 * 60_000);
      const first = drain(s, clock);
      expect(first.sent).toBeGreaterThan(0);
      clock.jump(step);
      const after = s.admit('lora', 'dev-1', 100);
      expect(after.ok).toBe(false);
      // The wait it states is still about the same monotonic time, not hours or years.
      expect(after.ok ? 0 : after.retryAfterSeconds * 1000).toBeLessThanOrEqual(first.retryMs + 1);
      clock.advance(Math.ceil(first.retryMs) + 1);
      expect(s.admit('lora', 'dev-1', 100).ok).toBe(true);
    });
  }

  it('keeps the hourly 1 % limit across a year-backwards jump in the middle of an hour', () => {
    const clock = new ManualClock(T0);
    const s = loraScheduler(clock, { burstMs: 36_000 });
    let air = 0;
    const hourEnd = clock.mono + HOUR;
    let jumped = false;
    while (clock.mono < hourEnd) {
      if (!jumped && clock.mono > hourEnd - HOUR / 2) {
        clock.jump(-YEAR);
        jumped = true;
      }
      const r = s.admit('lora', 'dev-1', 100);
      if (r.ok) {
        air += s.frameAirtimeMs('lora', 100)!;
        clock.advance(Math.ceil(s.frameAirtimeMs('lora', 100)!));
      } else clock.advance(Math.max(50, Math.ceil(r.retryAfterSeconds * 1000)));
    }
    expect(jumped).toBe(true);
    expect(air).toBeLessThanOrEqual(0.01 * HOUR);
  });

  it('boots with the wall clock at 1970 (no RTC): the gate starts empty, opens with monotonic time, and NTP stepping to today changes nothing', () => {
    const clock = new ManualClock(0, 5_000);
    const s = loraScheduler(clock);
    // The bucket starts empty so a restart cannot hand out a fresh burst.
    const atBoot = s.admit('lora', 'dev-1', 100);
    expect(atBoot.ok).toBe(false);
    const wait = atBoot.ok ? 0 : atBoot.retryAfterSeconds * 1000;
    // One frame's share of the duty cycle (about a minute at SF9), never hours or years.
    expect(wait).toBeLessThan(5 * 60_000);
    clock.jump(T0); // NTP arrives
    expect(s.admit('lora', 'dev-1', 100).ok).toBe(false);
    clock.advance(Math.ceil(wait) + 1);
    expect(s.admit('lora', 'dev-1', 100).ok).toBe(true);
  });

  it('meters the cellular link rate on the monotonic clock', () => {
    const clock = new ManualClock(T0);
    const s = new Scheduler(scheduleConfigSchema.parse({ bearers: { nb: { kind: 'nbiot', linkBytesPerSecond: 1000 } } }), clock);
    clock.advance(10_000);
    let sent = 0;
    while (s.admit('nb', 'dev-1', 200).ok) sent++;
    expect(sent).toBeGreaterThan(0);
    clock.jump(10 * YEAR);
    expect(s.admit('nb', 'dev-1', 200).ok).toBe(false);
    clock.jump(-20 * YEAR);
    expect(s.admit('nb', 'dev-1', 200).ok).toBe(false);
    clock.advance(1000);
    expect(s.admit('nb', 'dev-1', 200).ok).toBe(true);
  });

  it('keeps a granted transfer slot when the wall clock jumps hours ahead, and frees it after monotonic idle time', async () => {
    const clock = new ManualClock(T0);
    const s = loraScheduler(clock, { maxConcurrentTransfers: 1 });
    const grantIdle = 120_000;
    expect(s.requestTransfer({ deviceId: 'a', bearer: 'lora', bytes: 1000 }).ok).toBe(true);
    expect(s.requestTransfer({ deviceId: 'b', bearer: 'lora', bytes: 1000 }).ok).toBe(false);
    clock.jump(10 * HOUR);
    s.sweep();
    expect(s.requestTransfer({ deviceId: 'b', bearer: 'lora', bytes: 1000 }).ok).toBe(false);
    clock.jump(-20 * YEAR);
    s.sweep();
    expect(s.requestTransfer({ deviceId: 'b', bearer: 'lora', bytes: 1000 }).ok).toBe(false);
    clock.advance(grantIdle + 1000);
    s.sweep();
    // p-queue hands the freed slot to the next in line on a later microtask.
    await new Promise((r) => setImmediate(r));
    expect(s.requestTransfer({ deviceId: 'b', bearer: 'lora', bytes: 1000 }).ok).toBe(true);
  });

  it('spends a daily SIM budget per wall-clock calendar day: a jump to another day opens it, a jump back finds it spent', () => {
    const clock = new ManualClock(T0);
    const s = new Scheduler(scheduleConfigSchema.parse({ bearers: { nb: { kind: 'nbiot', sim: { dailyBytes: '10KB' } } } }), clock);
    let sent = 0;
    while (s.admit('nb', 'dev-1', 500).ok) sent += 528;
    expect(sent).toBeLessThanOrEqual(10_240);
    const refused = s.admit('nb', 'dev-1', 500);
    expect(refused.ok).toBe(false);
    // The wait runs to the next local midnight (wall clock), at most a day.
    expect(refused.ok ? 0 : refused.retryAfterSeconds).toBeLessThanOrEqual(24 * 3600);
    clock.jump(24 * HOUR);
    expect(s.admit('nb', 'dev-1', 500).ok).toBe(true);
    clock.jump(-24 * HOUR);
    expect(s.admit('nb', 'dev-1', 500).ok).toBe(false);
  });

  it('follows the wall clock for maintenance windows: a jump into a deny window closes it, a jump out opens it', () => {
    const spec = { windows: { timezone: 'Europe/Berlin', deny: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const, from: '05:00', to: '07:30', reason: 'milking' }], allow: [] } };
    const noonBerlin = Date.parse('2026-11-25T11:00:00Z');
    expect(windowVerdict(spec as never, noonBerlin)).toEqual({ open: true });
    const sixBerlin = Date.parse('2026-11-26T05:00:00Z');
    const v = windowVerdict(spec as never, sixBerlin);
    expect(v.open).toBe(false);
    if (!v.open) expect(v.untilMs).toBe(Date.parse('2026-11-26T06:30:00Z'));
    // Booted at 1970 before NTP: the window is evaluated for that wall time, never throws, gives a bounded wait.
    const boot = windowVerdict(spec as never, 5 * HOUR);
    if (!boot.open) expect(boot.untilMs - 5 * HOUR).toBeLessThanOrEqual(24 * HOUR);
  });

  it('rate-limits a CoAP peer on the monotonic clock: a wall jump neither resets nor extends the limit', () => {
    const clock = new ManualClock(T0);
    const server = new CoapServer({ log: silentLogger(), clock, limits: { ratePerSecond: 2, burst: 5, repliesPerPeer: 4, maxPeers: 100 }, maxDatagram: 1500 });
    const replies: Buffer[] = [];
    let handler: ((d: Buffer, p: PeerAddress) => void) | undefined;
    server.attach({ name: 'mem', kind: 'udp', maxDatagram: 1500, start: async () => {}, stop: async () => {}, send: async (d) => void replies.push(d), onMessage: (h) => (handler = h) });
    server.start();
    const peer = { address: '10.0.0.7', port: 5683, bearer: 'mem' };
    let mid = 1;
    const ping = () => {
      const n = replies.length;
      handler!(Buffer.from([0x40, 0x00, 0x00, mid++ & 0xff]), peer);
      return replies.length > n;
    };
    let answered = 0;
    for (let i = 0; i < 10; i++) if (ping()) answered++;
    expect(answered).toBe(5);
    clock.jump(YEAR);
    expect(ping()).toBe(false);
    clock.jump(-2 * YEAR);
    expect(ping()).toBe(false);
    clock.advance(1000);
    expect(ping()).toBe(true);
    server.stop();
  });

  it('throttles telemetry streams on monotonic time: a wall jump neither floods nor silences them', () => {
    const clock = new ManualClock(T0);
    const t = new Throttle(10_000);
    expect(t.pass('dev-1', clock.monotonic())).toBe(true);
    clock.jump(YEAR);
    expect(t.pass('dev-1', clock.monotonic())).toBe(false);
    clock.jump(-2 * YEAR);
    expect(t.pass('dev-1', clock.monotonic())).toBe(false);
    clock.advance(10_000);
    expect(t.pass('dev-1', clock.monotonic())).toBe(true);
  });

  it('runs rollout soak timers on the monotonic clock: wall jumps neither end nor extend a soak, and a restart at 1970 keeps the time served', () => {
    const f = fleet(20);
    try {
      const yaml = 'release: { product: soil-probe, version: 2.0.0 }\nwaves:\n  - { size: 2, soak: 1h }\n  - { size: rest }\n';
      const file = f.write('soak.yaml', yaml);
      const clock = new ManualClock(T0);
      applyPlan(f.db, planRollout(loadRolloutFile(file), { file, text: yaml }, f.db, { schedule: scheduleConfigSchema.parse({}), patches: patchesTableLookup(f.db), now: clock.now() }), file, clock.now());
      const repo = new RolloutRepo(f.db);
      const make = (c: Clock) => new RolloutEngine({ rollouts: repo, devices: new DeviceRepo(f.db), releases: new ReleaseRepo(f.db), clock: c, log: silentLogger(), events: new EventBus(silentLogger()) });
      let engine = make(clock);
      engine.start();
      for (const id of f.ids) {
        const d = engine.decide({ deviceId: id, product: 'soil-probe', runningSha256: f.v1, bearer: 'udp' });
        if (d.kind !== 'update') continue;
        engine.onReport({ deviceId: id, status: 'downloading' });
        engine.onReport({ deviceId: id, status: 'applied' });
        engine.onReport({ deviceId: id, status: 'booted', releaseSha256: d.releaseSha256 });
      }
      engine.tick(true);
      expect(repo.waves('soak')[0]!.state).toBe('soaking');
      clock.jump(2 * HOUR);
      engine.tick(true);
      expect(repo.get('soak')!.currentWave).toBe(0);
      clock.jump(-5 * YEAR);
      engine.tick(true);
      expect(repo.get('soak')!.currentWave).toBe(0);
      clock.advance(30 * 60_000);
      engine.tick(true);
      engine.stop();
      // Reboot without RTC: wall clock at 1970, monotonic origin elsewhere; 30 minutes are still served.
      const boot = new ManualClock(0, 42);
      engine = make(boot);
      engine.start();
      boot.advance(29 * 60_000);
      engine.tick(true);
      expect(repo.get('soak')!.currentWave).toBe(0);
      boot.jump(T0); // NTP
      engine.tick(true);
      expect(repo.get('soak')!.currentWave).toBe(0);
      boot.advance(2 * 60_000);
      engine.tick(true);
      expect(repo.get('soak')!.currentWave).toBe(1);
    } finally {
      f.close();
    }
  });
});
