import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPatch, encodeFullImage, encodePatch, parsePatchHeader } from '../../../src/delta/index.ts';
import { InputError } from '../../../src/errors.ts';
import { editedPair, prng } from './fixtures.ts';

async function roundTrip(oldImg: Uint8Array, newImg: Uint8Array, opts: { maxBodyLen?: number } = {}): Promise<Buffer> {
  const patch = await encodePatch(oldImg, newImg, opts);
  const out = applyPatch(oldImg, patch);
  expect(out.equals(Buffer.from(newImg))).toBe(true);
  return patch;
}

describe('furrow patch round trip', () => {
  it('reproduces random new images from random bases (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.uint8Array({ minLength: 1, maxLength: 3000 }), async (a, b) => {
        await roundTrip(a, b);
      }),
      { numRuns: 15 },
    );
  });

  it('reproduces edited versions of a base (property over edits)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.array(fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 40 }), fc.nat(40))), async (base, edits) => {
        let img = Buffer.from(base);
        for (const [at, ins, del] of edits) {
          const p = at % (img.length + 1);
          img = Buffer.concat([img.subarray(0, p), Buffer.from(ins), img.subarray(Math.min(img.length, p + del))]);
        }
        if (img.length === 0) img = Buffer.from([0]);
        await roundTrip(base, img);
      }),
      { numRuns: 15 },
    );
  });

  it('handles an empty base as a full image (base size 0, FULL flag)', async () => {
    const img = prng(1, 5000);
    const patch = await roundTrip(new Uint8Array(0), img);
    const h = parsePatchHeader(patch);
    expect(h.full).toBe(true);
    expect(h.baseSize).toBe(0);
    expect(h.baseSha256).toBe('0'.repeat(64));
  });

  it('encodes identical images into a tiny patch', async () => {
    const img = prng(2, 50_000);
    const patch = await roundTrip(img, img);
    expect(patch.length).toBeLessThan(400);
  });

  it('handles totally different images', async () => {
    await roundTrip(prng(3, 20_000), prng(4, 20_000));
  });

  it('handles one-byte images on either side', async () => {
    await roundTrip(Buffer.from([7]), Buffer.from([8]));
    await roundTrip(Buffer.from([7]), prng(5, 100));
    await roundTrip(prng(6, 100), Buffer.from([9]));
  });

  it('builds a full-image patch that the same applier reads', async () => {
    const img = prng(8, 70_000);
    const patch = await encodeFullImage(img, { maxBodyLen: 16384 });
    expect(parsePatchHeader(patch).chunkCount).toBeGreaterThan(3);
    expect(applyPatch(new Uint8Array(0), patch).equals(img)).toBe(true);
  });

  it('keeps every chunk body within the staging budget', async () => {
    const { oldImg, newImg } = editedPair(11, 200_000);
    const patch = await roundTrip(oldImg, prng(12, 200_000), { maxBodyLen: 20_000 });
    const h = parsePatchHeader(patch);
    expect(h.maxBodyLen).toBeLessThanOrEqual(20_000);
    expect(h.chunkCount).toBeGreaterThanOrEqual(10);
    await roundTrip(oldImg, newImg, { maxBodyLen: 20_000 });
  });

  it('refuses an empty new image with a typed error (a furrow patch carries 1 byte or more)', async () => {
    await expect(encodePatch(prng(1, 10), new Uint8Array(0))).rejects.toBeInstanceOf(InputError);
  });
});
