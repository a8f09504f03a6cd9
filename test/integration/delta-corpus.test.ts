/**
 * Every corpus pair (real ESP32 application images, test/corpus/manifest.json) encodes into a furrow
 * patch that reproduces the new image byte for byte; one file so the slow encodes run once.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { coderRamBytes, encodePatch, parsePatchHeader, StreamingApplier } from '../../src/delta/index.ts';
import { CORPUS_PAIRS, readCorpus } from '../helpers/corpus.ts';

/** Largest patch accepted per pair, as a fraction of the new image (measured sizes in FORMAT.md, plus slack). */
const MAX_RATIO: Record<string, number> = {
  'WLED 0.14.3→0.14.4': 0.06,
  'NerdMiner 1.6.0→1.6.1': 0.05,
  'WLED 0.14.4→0.15.0': 0.27,
};

describe('furrow patches on the firmware corpus', () => {
  it.each(CORPUS_PAIRS.map((p) => [p.from, p.to, MAX_RATIO[p.name]] as const))('%s → %s round-trips byte-exact and stays small', async (a, b, maxRatio) => {
    expect(maxRatio, `no size bound for ${a} → ${b} in MAX_RATIO`).toBeDefined();
    const oldImg = readCorpus(a);
    const newImg = readCorpus(b);
    const patch = await encodePatch(oldImg, newImg);
    const h = parsePatchHeader(patch);
    expect(h.resultSha256).toBe(createHash('sha256').update(newImg).digest('hex'));
    expect(h.maxBodyLen).toBeLessThanOrEqual(65536);
    expect(h.coders.reduce((n, c) => n + coderRamBytes(c), 0)).toBeLessThanOrEqual(64 * 1024);
    expect(patch.length / newImg.length).toBeLessThan(maxRatio!);
    // the applier used as a device would: 512-byte blocks, output written in order
    const applier = new StreamingApplier({ base: oldImg });
    const out = Buffer.alloc(newImg.length);
    let written = 0;
    for (let i = 0; i < patch.length; i += 512) {
      for (const o of applier.push(patch.subarray(i, i + 512))) {
        expect(o.offset).toBe(written);
        out.set(o.data, o.offset);
        written += o.data.length;
      }
    }
    applier.end();
    expect(written).toBe(newImg.length);
    expect(out.equals(newImg)).toBe(true);
  });

});
