import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignWaves, rank, resolveWaveSizes, waveForLateJoiner } from '../../../src/rollout/waves.ts';

const ids = (n: number, prefix = 'dev') => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

describe('wave membership', () => {
  it('puts every device in the same wave whatever order the fleet is listed in', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(ids(60), { minLength: 60, maxLength: 60 }), (shuffled) => {
        const a = assignWaves('r1', ids(60), [6, 24, 30]);
        const b = assignWaves('r1', shuffled, [6, 24, 30]);
        const wa = new Map(a.map((m) => [m.deviceId, m.wave]));
        for (const m of b) expect(m.wave).toBe(wa.get(m.deviceId));
      }),
      { numRuns: 50 },
    );
  });

  it('keeps a device in its wave when another device joins the fleet (at most one boundary device moves per wave)', () => {
    const before = new Map(assignWaves('r1', ids(100), [10, 40, 50]).map((m) => [m.deviceId, m.wave]));
    const after = new Map(assignWaves('r1', [...ids(100), 'newcomer'], [10, 40, 51]).map((m) => [m.deviceId, m.wave]));
    const moved = ids(100).filter((id) => before.get(id) !== after.get(id));
    expect(moved.length).toBeLessThanOrEqual(2);
  });

  it('picks different canaries for different rollouts', () => {
    const a = assignWaves('rollout-a', ids(200), [10, 190]).filter((m) => m.wave === 0).map((m) => m.deviceId);
    const b = assignWaves('rollout-b', ids(200), [10, 190]).filter((m) => m.wave === 0).map((m) => m.deviceId);
    expect(a).not.toEqual(b);
  });

  it('depends only on rollout id and device id (a restart computes the same rank)', () => {
    expect(rank('r1', 'dev-1')).toBe(rank('r1', 'dev-1'));
    expect(rank('r1', 'dev-1')).toMatch(/^[0-9a-f]{16}$/);
    expect(rank('r1', 'dev-1')).not.toBe(rank('r1dev-1', ''));
  });

  it('places a late joiner by its rank, proportionally to wave sizes', () => {
    const counts = [10, 40, 50];
    const waves = ids(2000, 'late').map((id) => waveForLateJoiner(rank('r1', id), counts));
    const share = (w: number) => waves.filter((x) => x === w).length / waves.length;
    expect(share(0)).toBeGreaterThan(0.07);
    expect(share(0)).toBeLessThan(0.13);
    expect(share(2)).toBeGreaterThan(0.45);
  });
});

describe('wave sizes', () => {
  it('resolves counts, percentages and rest', () => {
    expect(resolveWaveSizes([{ count: 5 }, { percent: 25 }, { rest: true }], 200)).toEqual([5, 50, 145]);
    expect(resolveWaveSizes([{ percent: 10 }, { percent: 30 }, { percent: 60 }], 201)).toEqual([20, 60, 121]);
    expect(resolveWaveSizes([{ count: 1 }, { count: 2 }], 3)).toEqual([1, 2]);
  });

  it('refuses sizes that ask for more devices than selected', () => {
    expect(() => resolveWaveSizes([{ count: 50 }, { count: 60 }], 100)).toThrow(/ask for 110 devices but the selector matches only 100/);
    expect(() => resolveWaveSizes([{ count: 100 }, { rest: true }], 100)).toThrow(/the last wave would get none/);
  });

  it('refuses sizes that leave devices out', () => {
    expect(() => resolveWaveSizes([{ count: 5 }, { percent: 50 }], 100)).toThrow(/cover 55 of the 100 selected devices \(45 left out\)/);
  });
});
