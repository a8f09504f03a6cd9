import { describe, expect, it } from 'vitest';
import { answerRange, ifRangeHolds } from '../../../src/http/range.ts';

const etag = '"abc"';
const ask = (range: string | undefined, size = 1000, ifRange?: string) => answerRange(range, size, { etag, ifRange });

describe('Range requests (RFC 9110 §14)', () => {
  it('serves one closed, open or suffix range as partial content', () => {
    expect(ask('bytes=0-99')).toEqual({ kind: 'partial', start: 0, end: 99 });
    expect(ask('bytes=900-')).toEqual({ kind: 'partial', start: 900, end: 999 });
    expect(ask('bytes=-100')).toEqual({ kind: 'partial', start: 900, end: 999 });
    expect(ask('BYTES = 10-20')).toEqual({ kind: 'partial', start: 10, end: 20 });
  });

  it('clips a last-pos past the end and a suffix longer than the image (§14.1.2)', () => {
    expect(ask('bytes=990-5000')).toEqual({ kind: 'partial', start: 990, end: 999 });
    expect(ask('bytes=-5000')).toEqual({ kind: 'partial', start: 0, end: 999 });
  });

  it('answers 416 for a first-pos at or past the end and a zero suffix', () => {
    expect(ask('bytes=1000-')).toEqual({ kind: 'unsatisfiable' });
    expect(ask('bytes=5000-6000')).toEqual({ kind: 'unsatisfiable' });
    expect(ask('bytes=-0')).toEqual({ kind: 'unsatisfiable' });
    expect(ask('bytes=0-0', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores an invalid ranges-specifier, another unit, and last-pos before first-pos (whole image)', () => {
    for (const r of ['bytes=abc', 'bytes=', 'items=0-1', 'bytes=5-1', 'bytes=--1', 'bytes 0-1', 'bytes=1-2-3', 'bytes=0-99999999999999999']) expect(ask(r).kind, r).toBe('full');
  });

  it('sends the whole image for several or overlapping ranges, and 416 when none is satisfiable', () => {
    expect(ask('bytes=0-10,20-30')).toMatchObject({ kind: 'full', why: expect.stringMatching(/2 ranges/) });
    expect(ask('bytes=0-500,100-600,200-700')).toMatchObject({ kind: 'full' });
    expect(ask('bytes=2000-,3000-')).toEqual({ kind: 'unsatisfiable' });
    expect(ask('bytes=0-10, ,')).toEqual({ kind: 'partial', start: 0, end: 10 });
  });

  it('lets If-Range through only for the same strong entity-tag (§13.1.5); a weak tag or a date restarts', () => {
    expect(ask('bytes=100-', 1000, '"abc"')).toEqual({ kind: 'partial', start: 100, end: 999 });
    expect(ask('bytes=100-', 1000, '"old"')).toMatchObject({ kind: 'full', why: expect.stringMatching(/If-Range/) });
    expect(ifRangeHolds('W/"abc"', etag)).toBe(false);
    expect(ifRangeHolds('Mon, 07 Dec 2026 10:00:00 GMT', etag)).toBe(false);
    // a failed If-Range wins over an unsatisfiable range: the whole new image is what the client needs
    expect(ask('bytes=5000-', 1000, '"old"')).toMatchObject({ kind: 'full' });
  });
});
