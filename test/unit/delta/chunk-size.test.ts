import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, encodeFullImage, encodePatch, ENTRY_SIZE, HEADER_SIZE, MIN_CHUNK_SIZE } from '../../../src/delta/index.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { applyWithC, buildFirmware } from '../firmware/fw.ts';
import { editedPair, prng } from './fixtures.ts';

/** Reads `chunk_size` and every `output_length` straight from the bytes (FORMAT.md §3-4), without the parser's checks. */
function rawLengths(patch: Buffer): { chunkSize: number; lengths: number[] } {
  const count = patch.readUInt32LE(84);
  const lengths = Array.from({ length: count }, (_, i) => patch.readUInt32LE(HEADER_SIZE + ENTRY_SIZE * i + 4));
  return { chunkSize: patch.readUInt32LE(88), lengths };
}

describe('encoder chunk sizes below the 16 KiB sizing unit', () => {
  const tmp = tempDir('furrow-chunks-');
  let n = 0;
  beforeAll(() => buildFirmware());
  afterAll(() => tmp.cleanup());

  /** Applies with the C decoder on a fresh host flash; returns slot1's result bytes. */
  function resultOfC(base: Buffer, patch: Buffer): Buffer {
    const c = applyWithC(join(tmp.dir, String(n++)), base, patch);
    expect(c.last, c.stderr).toMatchObject({ event: 'done' });
    return c.result;
  }

  it('keeps every chunk within the header chunk_size, and both appliers accept the patch (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MIN_CHUNK_SIZE, max: 20_000 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 3000, max: 40_000 }), async (chunkSize, seed, size) => {
        const { oldImg, newImg } = editedPair(seed, size);
        const patch = await encodePatch(oldImg, newImg, { chunkSize });
        const { chunkSize: written, lengths } = rawLengths(patch);
        expect(written).toBe(chunkSize);
        for (const len of lengths) expect(len).toBeLessThanOrEqual(chunkSize);
        expect(lengths.reduce((a, b) => a + b, 0)).toBe(newImg.length);
        expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
        expect(resultOfC(oldImg, patch).subarray(0, newImg.length).equals(newImg)).toBe(true);
      }),
      { numRuns: 6 },
    );
  });

  it('cuts a full image at the smallest chunk size into chunks of at most 4096 bytes', async () => {
    const img = prng(21, 30_000);
    const patch = await encodeFullImage(img, { chunkSize: MIN_CHUNK_SIZE });
    const { lengths } = rawLengths(patch);
    expect(lengths.length).toBe(Math.ceil(img.length / MIN_CHUNK_SIZE));
    for (const len of lengths) expect(len).toBeLessThanOrEqual(MIN_CHUNK_SIZE);
    expect(applyPatch(new Uint8Array(0), patch).equals(img)).toBe(true);
    expect(resultOfC(Buffer.alloc(0), patch).subarray(0, img.length).equals(img)).toBe(true);
  });
});
