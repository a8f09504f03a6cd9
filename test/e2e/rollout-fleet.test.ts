import { describe, expect, it } from 'vitest';
import { runFleet } from '../../src/sim/fleet.ts';

/**
 * End to end: the real daemon (in this process, on a virtual clock) with its CoAP server on loopback
 * UDP, the rollout engine and the scheduler; 200 simulated devices speaking src/coap/PROTOCOL.md on an
 * NB-IoT link model (RTT 1-3 s); the daemon is stopped and started again on the same data dir midway.
 */
const WAVES = [
  { name: 'canary', size: '10%', soak: '30m' },
  { size: '30%', soak: '30m' },
  { size: 'rest' },
];

describe('3-wave rollout over 200 simulated devices', () => {
  it('halts before wave 2 when 30 % of the canary fails its self-test, across a daemon restart', async () => {
    const r = await runFleet({ devices: 200, bearer: 'nbiot', patchSize: 2048, waves: WAVES, canaryFailRate: 0.3, restartAt: 0.015, seed: 7 });
    expect(r.restarts).toBe(1);
    expect(r.rolloutState).toBe('halted');
    expect(r.rolloutReason).toMatch(/^wave canary: \d+ of \d+ finished devices failed \(\d+(\.\d)?% > 10%\)$/);
    expect(r.waves[0]!.size).toBe(20);
    expect(r.waves[1]!.startedMs).toBeNull();
    // Nobody outside the canary got the release, even a simulated day after the halt.
    expect(r.updated + r.failed).toBeLessThanOrEqual(20);
    expect(r.waves[1]!.succeeded + r.waves[2]!.succeeded).toBe(0);
    expect(r.failed).toBeGreaterThanOrEqual(1);
  });

  it('completes a clean rollout wave by wave across a daemon restart', async () => {
    const r = await runFleet({ devices: 200, bearer: 'nbiot', patchSize: 2048, waves: WAVES, restartAt: 0.5, seed: 11 });
    expect(r.restarts).toBe(1);
    expect(r.rolloutState).toBe('completed');
    expect(r.updated).toBe(200);
    expect(r.waves.map((w) => w.size)).toEqual([20, 60, 120]);
    expect(r.waves.map((w) => w.succeeded)).toEqual([20, 60, 120]);
    // Each wave started only after the previous one finished and soaked 30 minutes.
    for (const i of [1, 2]) expect(r.waves[i]!.startedMs!).toBeGreaterThanOrEqual(r.waves[i - 1]!.soakStartedMs! + 30 * 60_000);
    expect(r.dutyCycleViolations).toBe(0);
    expect(r.downlinkBytes).toBeGreaterThanOrEqual(r.minimumBytes);
  });
});
