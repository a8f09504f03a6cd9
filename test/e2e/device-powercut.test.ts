/**
 * Power cuts at pseudo-random flash/state operations across download, apply, verify, slot switch and
 * first boot. FURROW_POWER_CUTS sets how many cuts (the full run: 200; CI default 12);
 * FURROW_POWER_CUT_PAIR picks the corpus pair (default 0, WLED 0.14.3→0.14.4; 1 = the feature release).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readSlot, runDevice, startWorld, type World } from './device-harness.ts';

const CUTS = Number(process.env.FURROW_POWER_CUTS ?? 12);
const PAIR = CORPUS_PAIRS[Number(process.env.FURROW_POWER_CUT_PAIR ?? 0)]!;
const BLOCK = 1024;

/** The update phase the device was in when the cut hit (from its boot and state events). */
function phaseAtCut(events: Array<Record<string, unknown>>): string {
  const last = [...events].reverse().find((e) => e.event === 'state' || e.event === 'boot' || e.event === 'reboot');
  if (!last) return 'bootloader';
  if (last.event === 'reboot') return 'reboot';
  return String(last.detail);
}

describe('furrow-device power cuts', () => {
  let world: World;
  const tmp = tempDir('furrow-cuts-');
  beforeAll(async () => {
    world = await startWorld({ from: PAIR.from, to: PAIR.to });
  });
  afterAll(async () => {
    await world.stop();
    tmp.cleanup();
  });

  it(`finishes every update after ${CUTS} power cuts, always boots a valid image, re-downloads at most one block per cut`, async () => {
    // one clean run tells how many operations a whole update takes
    const clean = await runDevice(world.deviceArgs(join(tmp.dir, 'clean')));
    expect(clean.code, clean.stderr).toBe(0);
    const totalOps = Number(clean.events.at(-1)!.ops) - Number(clean.events[0]!.ops);
    expect(totalOps).toBeGreaterThan(100);

    let cuts = 0;
    let campaign = 0;
    let seed = 1;
    const phases = new Map<string, number>();
    const perCut: number[] = [];
    while (cuts < CUTS) {
      campaign++;
      const dir = join(tmp.dir, `c${campaign}`);
      const sentBefore = world.patchBytesSent;
      const reportsBefore = world.reports.length;
      let campaignCuts = 0;
      for (let run = 0; ; run++) {
        expect(run, 'an update must finish despite the cuts').toBeLessThan(60);
        const r = await runDevice(world.deviceArgs(dir, ['--power-cut-random', String(seed++), '--power-cut-range', String(totalOps)]));
        expect(r.events.some((e) => e.event === 'bricked'), 'the device must always find a valid image').toBe(false);
        expect(r.events.find((e) => e.event === 'bootloader'), r.stderr).toBeDefined();
        const last = r.events.at(-1)!;
        if (last.event === 'power_cut') {
          cuts++;
          campaignCuts++;
          const key = phaseAtCut(r.events);
          phases.set(key, (phases.get(key) ?? 0) + 1);
          continue;
        }
        expect(r.code, `${r.stderr} ${JSON.stringify(r.events.slice(-4))}`).toBe(0);
        break;
      }
      expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
      expect(world.reports.slice(reportsBefore).map((x) => x.status)).toContain('booted');
      const resent = world.patchBytesSent - sentBefore - world.patchSize;
      expect(resent).toBeGreaterThanOrEqual(0);
      if (campaignCuts) {
        perCut.push(resent / campaignCuts);
        expect(resent).toBeLessThanOrEqual(campaignCuts * BLOCK);
      }
    }
    const avg = perCut.reduce((a, b) => a + b, 0) / Math.max(1, perCut.length);
    console.log(
      `power cuts (${PAIR.name}): ${cuts} in ${campaign} updates of ${world.patchSize} patch bytes (${totalOps} flash/state ops each); ` +
        `re-downloaded per cut: avg ${avg.toFixed(0)} B, max ${Math.max(0, ...perCut).toFixed(0)} B (block ${BLOCK} B); ` +
        `cuts by phase: ${JSON.stringify(Object.fromEntries(phases))}`,
    );
  }, Math.max(60_000, CUTS * 2_000));

  it('survives cuts every few operations through verify, slot switch, first boot, confirm and report', async () => {
    const clean = await runDevice(world.deviceArgs(join(tmp.dir, 'tail-clean')));
    const applied = Number(clean.events.find((e) => e.event === 'applied')!.ops) - Number(clean.events[0]!.ops);
    const dir = join(tmp.dir, 'tail');
    const reportsBefore = world.reports.length;
    // run the download and apply in one go, cut at the first operation after the image is verified,
    // then cut after 1..6 operations, again and again
    let r = await runDevice(world.deviceArgs(dir, ['--power-cut-after', String(applied + 1)]));
    expect(r.events.at(-1)!.event).toBe('power_cut');
    const phases = new Map<string, number>();
    let seed = 7;
    for (let run = 0; ; run++) {
      expect(run, 'the update must finish').toBeLessThan(80);
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      r = await runDevice(world.deviceArgs(dir, ['--power-cut-after', String(1 + (seed % 6))]));
      expect(r.events.some((e) => e.event === 'bricked')).toBe(false);
      if (r.events.at(-1)!.event !== 'power_cut') break;
      const key = phaseAtCut(r.events);
      phases.set(key, (phases.get(key) ?? 0) + 1);
    }
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.find((e) => e.event === 'bootloader')!.a).toBe(1);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.reports.slice(reportsBefore).map((x) => x.status)).toContain('booted');
    console.log(`tail cuts by phase: ${JSON.stringify(Object.fromEntries(phases))}`);
    expect(phases.size).toBeGreaterThanOrEqual(2);
  });
});
