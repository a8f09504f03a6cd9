import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodePatch, parsePatchHeader, PatchError, readPatchLayout } from '../../../src/delta/index.ts';
import { bodiesStart, HEADER_SIZE } from '../../../src/delta/format.ts';
import { editedPair } from './fixtures.ts';

function sealTable(p: Buffer): Buffer {
  const count = p.readUInt32LE(84);
  createHash('sha256').update(p.subarray(0, 128)).update(p.subarray(HEADER_SIZE, bodiesStart(count))).digest().copy(p, 128);
  return p;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PatchError) return err.formatName;
    throw err;
  }
  return 'accepted';
}

describe('structural patch read (readPatchLayout) next to the full header check', () => {
  let patch: Buffer;
  beforeAll(async () => {
    const { oldImg, newImg } = editedPair(41, 40_000);
    patch = await encodePatch(oldImg, newImg);
  });

  it('returns the same digests and sizes as the full header parse', () => {
    const full = parsePatchHeader(patch);
    expect(readPatchLayout(patch)).toEqual({
      formatVersion: full.formatVersion,
      full: full.full,
      baseSize: full.baseSize,
      baseSha256: full.baseSha256,
      resultSize: full.resultSize,
      resultSha256: full.resultSha256,
      chunkCount: full.chunkCount,
      tableDigest: full.tableDigest,
    });
  });

  it('reads a sealed header whose coder field only a decoder would refuse', () => {
    const p = Buffer.from(patch);
    p.writeUInt32LE(0, 96 + 4); // coder[control].dict_size = 0
    sealTable(p);
    expect(codeOf(() => parsePatchHeader(p))).toBe('BAD_CODER');
    expect(readPatchLayout(p).tableDigest).toBe(p.subarray(128, 160).toString('hex'));
  });

  it('refuses a table that differs from the stored digest, a truncated table, and a foreign magic', () => {
    const altered = Buffer.from(patch);
    altered[HEADER_SIZE + 4] = altered[HEADER_SIZE + 4]! ^ 1; // chunk 0 output_length
    expect(codeOf(() => readPatchLayout(altered))).toBe('TABLE_DIGEST_MISMATCH');
    expect(codeOf(() => readPatchLayout(patch.subarray(0, HEADER_SIZE + 10)))).toBe('SIZE_MISMATCH');
    expect(codeOf(() => readPatchLayout(patch.subarray(0, 100)))).toBe('SIZE_MISMATCH');
    const foreign = Buffer.from(patch);
    foreign.write('XXXX', 0, 'latin1');
    expect(codeOf(() => readPatchLayout(foreign))).toBe('BAD_MAGIC');
    const v3 = sealTable(Buffer.from(patch));
    v3.writeUInt16LE(3, 4);
    expect(codeOf(() => readPatchLayout(v3))).toBe('UNSUPPORTED_VERSION');
    const none = Buffer.from(patch);
    none.writeUInt32LE(0, 84);
    expect(codeOf(() => readPatchLayout(none))).toBe('BAD_CHUNK_COUNT');
  });
});
