import { describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { readSlot, runDevice, worldPerTest } from './device-harness.ts';

const { start, flash } = worldPerTest();

describe('furrow-device against the real CoAP gateway', () => {
  for (const pair of CORPUS_PAIRS) {
    it(`updates ${pair.name}: passive slot byte-exact, boot slot switched, report received`, async () => {
      const world = await start({ from: pair.from, to: pair.to });
      const dir = flash();
      const r = await runDevice(world.deviceArgs(dir));
      expect(r.code, r.stderr + JSON.stringify(r.events.slice(-5))).toBe(0);
      const boots = r.events.filter((e) => e.event === 'bootloader');
      expect(boots.map((e) => e.a)).toEqual([0, 1]); // factory slot, then the new one
      expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
      expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
      expect(world.reports).toEqual([{ status: 'booted' }]);
      // every patch byte crossed the air exactly once
      expect(world.patchBytesSent).toBe(world.patchSize);
    });
  }
});
