import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { bsdiffMatches } from '../../../src/delta/bsdiff.ts';
import { applyDetoolsPatch } from '../../../src/delta/detools/apply.ts';
import { ESP_DELTA_OTA_HEADER_SIZE, partitionDigest, readEspDeltaOtaHeader, wrapEspDeltaOta } from '../../../src/delta/detools/esp-delta-ota.ts';
import { ESP_DELTA_OTA_HEATSHRINK, heatshrinkEncode } from '../../../src/delta/detools/heatshrink.ts';
import { encodeDetoolsPatch, matchesToTriples, packSize } from '../../../src/delta/detools/patch.ts';
import { CORPUS_PAIRS, readCorpus } from '../../helpers/corpus.ts';
import { applyWithDetools } from '../../helpers/detools.ts';
import { tempDir } from '../../helpers/tmp.ts';

const tmp = tempDir('furrow-detools-');
afterAll(() => tmp.cleanup());
const HS = { kind: 'heatshrink' as const, ...ESP_DELTA_OTA_HEATSHRINK };

describe('detools sequential patches, applied by the detools C library', () => {
  it('packs sizes as detools reads them: 6 bits and a sign first, then 7 bits per byte', () => {
    expect(packSize(0)).toEqual([0x00]);
    expect(packSize(63)).toEqual([0x3f]);
    expect(packSize(64)).toEqual([0x80, 0x01]);
    expect(packSize(-5)).toEqual([0x45]);
    expect(packSize(1_284_976)).toEqual([0x80 | (1_284_976 & 0x3f), 0x80 | ((1_284_976 >> 6) & 0x7f), 0x80 | ((1_284_976 >> 13) & 0x7f), 1_284_976 >> 20]);
  });

  it('covers the new image with triples whatever the matches: none, one in the middle, back to back', () => {
    expect(matchesToTriples([], 10)).toEqual([{ diffNew: 0, diffOld: 0, diff: 0, extra: 10, adjust: 0 }]);
    expect(matchesToTriples([{ newStart: 3, oldStart: 7, len: 4 }], 10)).toEqual([
      { diffNew: 0, diffOld: 0, diff: 0, extra: 3, adjust: 7 },
      { diffNew: 3, diffOld: 7, diff: 4, extra: 3, adjust: 0 },
    ]);
    const t = matchesToTriples([{ newStart: 0, oldStart: 5, len: 2 }, { newStart: 2, oldStart: 0, len: 3 }], 5);
    expect(t).toEqual([
      { diffNew: 0, diffOld: 5, diff: 2, extra: 0, adjust: -7 },
      { diffNew: 2, diffOld: 0, diff: 3, extra: 0, adjust: 0 },
    ]);
  });

  it('round-trips synthetic data through heatshrink (repeats, overlapping runs, random bytes, empty) and no compression', () => {
    const cases = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(5000, 0), Buffer.from('abcabcabcabcabcabcabcabd'.repeat(300)), randomBytes(3000), Buffer.concat([randomBytes(700), Buffer.alloc(900, 7), randomBytes(50)])];
    const base = randomBytes(4096);
    for (const next of cases) {
      for (const c of [{ kind: 'none' as const }, HS]) {
        const patch = encodeDetoolsPatch(base, next, [], c);
        expect(applyWithDetools(base, patch, tmp.dir).equals(next), `${c.kind} ${next.length}`).toBe(true);
        expect(applyDetoolsPatch(base, patch).equals(next)).toBe(true);
      }
    }
    expect(heatshrinkEncode(Buffer.alloc(5000, 0)).length).toBeLessThan(400);
  });

  it('refuses window/lookahead pairs heatshrink cannot express', () => {
    expect(() => heatshrinkEncode(Buffer.from('x'), { windowBits: 3, lookaheadBits: 2 })).toThrow(RangeError);
    expect(() => heatshrinkEncode(Buffer.from('x'), { windowBits: 8, lookaheadBits: 8 })).toThrow(RangeError);
  });

  it('a patch whose heatshrink parameters differ from the static build is refused by the C library (the pinned pair matters)', () => {
    const base = randomBytes(1000);
    const patch = encodeDetoolsPatch(base, base, [{ newStart: 0, oldStart: 0, len: 1000 }], { kind: 'heatshrink', windowBits: 9, lookaheadBits: 5 });
    expect(() => applyWithDetools(base, patch, tmp.dir)).toThrow(/heatshrink/i);
  });

  it.each(CORPUS_PAIRS)('$name: bsdiff matches → detools patch (none and heatshrink 8/7) applied byte-exact by detools C', async ({ from, to }) => {
    const base = readCorpus(from);
    const next = readCorpus(to);
    const matches = await bsdiffMatches(base, next);
    const none = encodeDetoolsPatch(base, next, matches, { kind: 'none' });
    const hs = encodeDetoolsPatch(base, next, matches, HS);
    expect(hs[0]).toBe(0x04); // sequential, heatshrink
    expect(hs[1 + packSize(next.length).length]).toBe(0x44); // window 8, lookahead 7 recorded in the patch
    expect(hs.length).toBeLessThan(none.length);
    expect(hs.length).toBeLessThan(next.length / 2);
    for (const p of [none, hs]) {
      expect(applyDetoolsPatch(base, p).equals(next)).toBe(true);
      const out = applyWithDetools(base, p, tmp.dir);
      expect(createHash('sha256').update(out).digest('hex')).toBe(createHash('sha256').update(next).digest('hex'));
    }
  }, 120_000);

  it('the TS decoder refuses damaged patches with a message, as the C library does', () => {
    const base = randomBytes(2000);
    const next = Buffer.concat([base.subarray(0, 1500), randomBytes(300)]);
    const good = encodeDetoolsPatch(base, next, [{ newStart: 0, oldStart: 0, len: 1500 }], { kind: 'none' });
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from([0x14, 0x01]), /not sequential/],
      [Buffer.from([0x03, 0x01]), /compression 3/],
      [good.subarray(0, 40), /ends early|bytes asked/],
      [Buffer.concat([good.subarray(0, 3), Buffer.from([0x01])]), /dfpatch/],
    ];
    for (const [p, msg] of cases) {
      expect(() => applyDetoolsPatch(base, p)).toThrow(msg);
      expect(() => applyWithDetools(base, p, tmp.dir)).toThrow(/detools apply_patch failed/);
    }
  });

  it('wraps a patch in the esp_delta_ota header: magic, the base partition digest, 28 zero bytes', () => {
    const base = readCorpus('wled-esp32/0.14.3.bin');
    const file = wrapEspDeltaOta(base, Buffer.from([1, 2, 3]));
    expect(file.subarray(0, 4).toString('hex')).toBe('10decdfc');
    expect(file.subarray(4, 36).equals(partitionDigest(base))).toBe(true);
    expect(file.subarray(36, ESP_DELTA_OTA_HEADER_SIZE).equals(Buffer.alloc(28))).toBe(true);
    expect(readEspDeltaOtaHeader(file)).toEqual({ baseDigest: partitionDigest(base).toString('hex'), patch: Buffer.from([1, 2, 3]) });
    expect(readEspDeltaOtaHeader(file.subarray(0, 10))).toMatch(/shorter than its 64-byte header/);
    expect(readEspDeltaOtaHeader(Buffer.alloc(64))).toMatch(/magic is 0x0/);
    // WLED images carry an appended SHA-256: the digest is the file's last 32 bytes
    expect(base[23]).toBe(1);
    expect(partitionDigest(base).equals(base.subarray(base.length - 32))).toBe(true);
  });
});
