import { describe, expect, it } from 'vitest';
import { applyPatch, parseChunkTable, parsePatchHeader } from '../../../src/delta/index.ts';
import { buildPatch } from '../../../src/delta/encode.ts';
import { decodeLzma1 } from '../../../src/delta/lzma-decoder.ts';
import { shortMatchCandidates, SHORT_MATCH_CUTS, type Match } from '../../../src/delta/matches.ts';
import { xzBatch } from '../../../src/delta/xz.ts';
import { FurrowError } from '../../../src/errors.ts';
import { editedPair, prng } from './fixtures.ts';

describe('xz batch', () => {
  it('compresses every stream (empty ones to nothing) into raw LZMA1 the decoder reads, reporting each', async () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 16384 };
    const inputs = [prng(1, 50_000), new Uint8Array(0), Buffer.from('furrow '.repeat(3000)), prng(2, 10)];
    const done: number[] = [];
    const out = await xzBatch(
      inputs.map((data, i) => ({ data, params: p, tuning: i === 2 ? { nice: 64, mf: 'bt2' as const } : {} })),
      2,
      (i) => done.push(i),
    );
    expect(done.sort()).toEqual([0, 1, 2, 3]);
    expect(out[1]!.length).toBe(0);
    inputs.forEach((data, i) => {
      if (data.length > 0) expect(Buffer.from(decodeLzma1(out[i]!, 0, out[i]!.length, data.length, p)).equals(Buffer.from(data))).toBe(true);
    });
    expect(out[2]!.length).toBeLessThan(200);
  });

  it('compresses a job of several parts as independent streams, one after another', async () => {
    const p = { lc: 0, lp: 0, pb: 0, dictSize: 16384 };
    const parts = [prng(5, 3000), Buffer.from('furrow '.repeat(500)), new Uint8Array(0), prng(6, 40)];
    const [joined, ...single] = await xzBatch([{ data: parts, params: p }, ...parts.map((data) => ({ data, params: p }))], 2);
    expect(joined!.length).toBe(single.reduce((n, b) => n + b.length, 0));
    expect(joined!.subarray(0, single[0]!.length).equals(single[0]!)).toBe(true);
  });

  it('reports an xz failure as a typed error with xz’s message', async () => {
    // lc + lp > 4 is valid LZMA1 but xz refuses it
    // one lane: the failing stream (the largest, so it runs first) must fail the batch, not just itself
    const good = { lc: 0, lp: 0, pb: 0, dictSize: 4096 };
    const jobs = [
      { data: prng(3, 1000), params: { lc: 4, lp: 4, pb: 0, dictSize: 4096 } },
      { data: prng(4, 100), params: good },
    ];
    const err = await xzBatch(jobs, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FurrowError);
    expect((err as FurrowError).code).toBe('DELTA_TOOL_FAILED');
    expect((err as Error).message).toMatch(/xz exited with 1/);
  });
});

describe('per-chunk choice among candidate match lists', () => {
  it('lists the matches as found, then without each size class of short matches', () => {
    const ms: Match[] = [4, 10, 14, 20, 100].map((len, i) => ({ newStart: 200 * i, oldStart: 200 * i, len }));
    const c = shortMatchCandidates(ms);
    expect(c).toHaveLength(1 + SHORT_MATCH_CUTS.length);
    expect(c[0]).toBe(ms);
    expect(c[1]!.map((m) => m.len)).toEqual([10, 14, 20, 100]); // cut 8
    expect(c.at(-1)!.map((m) => m.len)).toEqual([100]); // cut 48
  });

  it('takes, chunk by chunk, the candidate that compresses best and still reproduces the image', async () => {
    const { oldImg, newImg } = editedPair(61, 120_000);
    const good: Match[] = [{ newStart: 0, oldStart: 0, len: 30_000 }];
    // a candidate with no matches at all: every byte extra, far bigger wherever a match exists
    const none: Match[] = [];
    const opts = { maxBodyLen: 200_000, chunkSize: 65_536 };
    const mixed = await buildPatch(oldImg, newImg, [none, good], opts);
    expect(applyPatch(oldImg, mixed).equals(newImg)).toBe(true);
    const onlyNone = await buildPatch(oldImg, newImg, [none], opts);
    const onlyGood = await buildPatch(oldImg, newImg, [good], opts);
    expect(mixed.length).toBe(onlyGood.length);
    expect(mixed.length).toBeLessThan(onlyNone.length);
    // chunk 0 (output 0..65536) holds the match: its diff stream comes from `good`
    const table = parseChunkTable(parsePatchHeader(mixed), mixed);
    expect(table[0]!.diffRawLen).toBe(30_000);
    expect(table[1]!.diffRawLen).toBe(0);
  });
});
