import { createHash } from 'node:crypto';
import type { WaveSize } from './spec.ts';
import { plural } from '../text.ts';

/**
 * Stable place of a device in a rollout: SHA-256 of rollout id and device id. Sorting by it gives an
 * order that depends on nothing else (not on insertion order, fleet size or restart), so a re-plan or
 * a restart never reshuffles devices between waves, and different rollouts pick different canaries.
 */
export function rank(rolloutId: string, deviceId: string): string {
  return createHash('sha256').update(rolloutId).update('\u0000').update(deviceId).digest('hex').slice(0, 16);
}

/** Position of a rank in [0, 1): where a device joining later falls among the waves. */
export function rankFraction(r: string): number {
  return parseInt(r.slice(0, 13), 16) / 2 ** 52;
}

export class WaveSizeError extends Error {
  constructor(
    message: string,
    readonly wave: number | null,
  ) {
    super(message);
  }
}

/**
 * Turns wave sizes into device counts for `total` selected devices. Refuses (with the reason) sizes
 * that ask for more devices than selected, leave devices out, or give a wave nothing.
 */
export function resolveWaveSizes(sizes: readonly WaveSize[], total: number): number[] {
  const counts = sizes.map((s) => ('count' in s ? s.count : 'percent' in s ? Math.max(1, Math.round((s.percent / 100) * total)) : 0));
  const fixed = counts.reduce((a, b) => a + b, 0);
  const restIndex = sizes.findIndex((s) => 'rest' in s);
  const allPercent = sizes.every((s) => 'percent' in s);
  const pctSum = sizes.reduce((a, s) => a + ('percent' in s ? s.percent : 0), 0);
  if (restIndex !== -1) {
    if (fixed >= total) {
      throw new WaveSizeError(`waves before "rest" take ${plural(fixed, 'device')} but the selector matches ${total}: the last wave would get none`, restIndex);
    }
    counts[restIndex] = total - fixed;
    return counts;
  }
  if (allPercent && Math.abs(pctSum - 100) < 1e-9) {
    // Percentages that add up to 100 % cover everyone; rounding differences go to the last wave.
    const last = counts.length - 1;
    counts[last] = total - (fixed - counts[last]!);
    if (counts[last]! < 1) throw new WaveSizeError(`the last wave gets no devices out of ${total} after rounding; use fewer waves or "rest"`, last);
    return counts;
  }
  if (fixed > total) {
    throw new WaveSizeError(`waves ask for ${plural(fixed, 'device')} but the selector matches only ${total}`, null);
  }
  if (fixed < total) {
    throw new WaveSizeError(
      `waves cover ${fixed} of the ${total} selected devices (${total - fixed} left out); make the last wave "size: rest" or make the sizes add up`,
      null,
    );
  }
  return counts;
}

/** Assigns each device to a wave: sorted by rank, waves take consecutive slices. */
export function assignWaves(rolloutId: string, deviceIds: readonly string[], counts: readonly number[]): Array<{ deviceId: string; wave: number; rank: string }> {
  const ranked = deviceIds.map((deviceId) => ({ deviceId, rank: rank(rolloutId, deviceId) })).sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  const out: Array<{ deviceId: string; wave: number; rank: string }> = [];
  let i = 0;
  counts.forEach((n, wave) => {
    for (let k = 0; k < n && i < ranked.length; k++, i++) out.push({ ...ranked[i]!, wave });
  });
  return out;
}

/** The wave a late-joining device belongs to, by where its rank falls among the wave boundaries. */
export function waveForLateJoiner(r: string, counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const f = rankFraction(r) * total;
  let acc = 0;
  for (let w = 0; w < counts.length; w++) {
    acc += counts[w]!;
    if (f < acc) return w;
  }
  return counts.length - 1;
}
