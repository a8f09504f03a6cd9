import type { RolloutRow, WaveCounts, WaveRow } from '../store/rollouts.ts';
import type { RolloutSpec } from './spec.ts';
import { plural } from '../text.ts';

export type Evaluation =
  | { action: 'none'; reason?: undefined }
  | { action: 'halt' | 'soak' | 'advance' | 'complete'; reason: string };

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * Pure decision on a running rollout: halt (a threshold tripped), start the current wave's soak (enough
 * of it finished), advance to the next wave or complete (soak served), or nothing. Thresholds are
 * checked on every wave that has started, so late rollbacks from an earlier wave still count.
 */
export function evaluateRollout(spec: RolloutSpec, row: RolloutRow, waves: WaveRow[], counts: WaveCounts[], soakElapsedMs: number): Evaluation {
  const rollbacks = counts.reduce((a, c) => a + c.rolledBack, 0);
  if (spec.halt.maxRollbacks > 0 && rollbacks >= spec.halt.maxRollbacks) {
    return { action: 'halt', reason: `${plural(rollbacks, 'device')} rolled back (limit ${spec.halt.maxRollbacks})` };
  }
  for (const c of counts) {
    if (c.wave > row.currentWave) continue;
    const finished = c.succeeded + c.failed + c.rolledBack;
    const bad = c.failed + c.rolledBack;
    const limit = spec.waves[c.wave]?.maxFailureRate ?? spec.halt.maxFailureRate;
    const needed = Math.min(spec.halt.minFinished, c.members);
    if (finished >= needed && finished > 0 && bad / finished > limit) {
      const name = waves[c.wave]?.name ?? `wave ${c.wave}`;
      return {
        action: 'halt',
        reason: `wave ${name}: ${bad} of ${finished} finished devices failed (${pct(bad / finished)} > ${pct(limit)})`,
      };
    }
  }
  const cur = waves[row.currentWave];
  const c = counts.find((x) => x.wave === row.currentWave);
  if (!cur) return { action: 'none' };
  const wspec = spec.waves[row.currentWave];
  if (cur.state === 'active') {
    const members = c?.members ?? 0;
    const done = c ? c.succeeded + c.failed + c.rolledBack + c.cancelled : 0;
    if (members === 0 || done / members >= (wspec?.proceedAt ?? 1) - 1e-9) {
      return { action: 'soak', reason: `wave ${cur.name}: ${c?.succeeded ?? 0} of ${members} updated` };
    }
    return { action: 'none' };
  }
  if (cur.state === 'soaking' && soakElapsedMs >= (wspec?.soak ?? 0)) {
    return row.currentWave + 1 < waves.length
      ? { action: 'advance', reason: `wave ${cur.name} soaked` }
      : { action: 'complete', reason: `all ${waves.length} waves done` };
  }
  return { action: 'none' };
}
