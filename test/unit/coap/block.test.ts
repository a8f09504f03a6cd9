import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBlock, encodeBlock, sliceBlock2, szxForDatagram } from '../../../src/coap/block.ts';

describe('Block2 option and slicing (RFC 7959)', () => {
  it('round-trips NUM/M/SZX through the 0-3 byte uint encoding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffff }), fc.boolean(), fc.integer({ min: 0, max: 7 }), (num, more, szx) => {
        const enc = encodeBlock({ num, more, szx });
        expect(enc.length).toBeLessThanOrEqual(3);
        expect(decodeBlock(enc)).toEqual({ num, more, szx });
      }),
    );
    expect(encodeBlock({ num: 0, more: false, szx: 0 }).length).toBe(0);
    expect(decodeBlock(Buffer.alloc(4))).toBeUndefined();
  });

  it('slices the block the client asked for, with More set except on the last', () => {
    expect(sliceBlock2(1000, { num: 1, more: false, szx: 2 }, 6, 6)).toEqual({ ok: true, num: 1, szx: 2, offset: 64, length: 64, more: true });
    expect(sliceBlock2(1000, { num: 15, more: false, szx: 2 }, 6, 6)).toEqual({ ok: true, num: 15, szx: 2, offset: 960, length: 40, more: false });
  });

  it('answers a larger SZX than the bearer allows with smaller blocks at the same byte offset (§2.4)', () => {
    const s = sliceBlock2(10_000, { num: 3, more: false, szx: 6 }, 4, 6);
    expect(s).toEqual({ ok: true, num: 12, szx: 4, offset: 3072, length: 256, more: true });
  });

  it('refuses a block past the end and the reserved SZX 7', () => {
    expect(sliceBlock2(1000, { num: 16, more: false, szx: 2 }, 6, 6)).toMatchObject({ ok: false, reason: expect.stringMatching(/past the end/) });
    expect(sliceBlock2(1000, { num: 0, more: false, szx: 7 }, 6, 6)).toMatchObject({ ok: false, reason: expect.stringMatching(/BERT/) });
    expect(sliceBlock2(0, undefined, 6, 6)).toMatchObject({ ok: true, length: 0, more: false });
  });

  it('covers every byte exactly once whatever the block size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 0, max: 6 }), (total, szx) => {
        let covered = 0;
        for (let num = 0; ; num++) {
          const s = sliceBlock2(total, { num, more: false, szx }, 6, 6);
          if (!s.ok) throw new Error(s.reason);
          expect(s.offset).toBe(covered);
          covered += s.length;
          if (!s.more) break;
        }
        expect(covered).toBe(total);
      }),
      { numRuns: 200 },
    );
  });

  it('picks the largest block that fits a bearer datagram', () => {
    expect(szxForDatagram(1152)).toBe(6);
    expect(szxForDatagram(600)).toBe(5);
    expect(szxForDatagram(242)).toBe(3); // LoRa-sized frame: 128-byte blocks
    expect(szxForDatagram(40)).toBe(0);
  });
});
