import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeLzma1, LzmaError } from '../../../src/delta/lzma-decoder.ts';
import { xzArgs } from '../../../src/delta/xz.ts';
import { prng } from './fixtures.ts';

function xz(data: Uint8Array, p: { lc: number; lp: number; pb: number; dictSize: number }): Buffer {
  return execFileSync('xz', xzArgs(p), { input: data });
}

describe('raw LZMA1 decoder', () => {
  const text = Buffer.from('furrow delta '.repeat(500) + prng(7, 3000).toString('latin1'), 'latin1');

  it.each([
    [0, 0, 0, 4096],
    [3, 0, 2, 8192],
    [0, 2, 2, 65536],
    [4, 0, 0, 16384],
    [1, 3, 4, 4096],
  ])('decodes what xz encodes with lc=%i lp=%i pb=%i dict=%i', (lc, lp, pb, dictSize) => {
    const p = { lc, lp, pb, dictSize };
    const c = xz(text, p);
    expect(Buffer.from(decodeLzma1(c, 0, c.length, text.length, p)).equals(text)).toBe(true);
  });

  it('decodes a stream that sits in the middle of a larger buffer', () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 4096 };
    const c = xz(text, p);
    const buf = Buffer.concat([Buffer.from([1, 2, 3]), c, Buffer.from([9, 9])]);
    expect(Buffer.from(decodeLzma1(buf, 3, c.length, text.length, p)).equals(text)).toBe(true);
  });

  it('reports a truncated stream instead of reading past its compressed length', () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 4096 };
    const c = xz(text, p);
    const err = (() => {
      try {
        decodeLzma1(c, 0, c.length - 20, text.length, p);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LzmaError);
    expect((err as LzmaError).kind).toBe('STREAM_TRUNCATED');
  });

  it('reports the end marker met before the promised length as truncation', () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 4096 };
    const c = xz(text, p);
    expect(() => decodeLzma1(c, 0, c.length, text.length + 10, p)).toThrow(/end marker/);
  });

  it('refuses a stream whose first byte is not 0', () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 4096 };
    const c = Buffer.from(xz(text, p));
    c[0] = 1;
    expect(() => decodeLzma1(c, 0, c.length, text.length, p)).toThrow(/first byte/);
  });

  it('refuses a match reaching beyond the dictionary the header declares', () => {
    // a 20 KB block repeated: xz with a 64 KiB dictionary matches 20 KB back, which a 4 KiB window cannot hold
    const block = prng(3, 20000);
    const data = Buffer.concat([block, block]);
    const c = xz(data, { lc: 0, lp: 0, pb: 0, dictSize: 65536 });
    expect(() => decodeLzma1(c, 0, c.length, data.length, { lc: 0, lp: 0, pb: 0, dictSize: 4096 })).toThrow(/dictionary/);
  });

  it('returns an empty buffer for a zero-length stream without reading input', () => {
    expect(decodeLzma1(new Uint8Array(0), 0, 0, 0, { lc: 0, lp: 0, pb: 0, dictSize: 4096 }).length).toBe(0);
  });
});
