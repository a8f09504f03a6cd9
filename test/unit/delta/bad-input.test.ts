import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, encodePatch, parsePatchHeader, PatchError, StreamingApplier } from '../../../src/delta/index.ts';
import { bodiesStart, ENTRY_SIZE, HEADER_SIZE } from '../../../src/delta/format.ts';
import { editedPair, prng } from './fixtures.ts';

/** Recomputes the table digest and, optionally, chunk body digests, so a test reaches the check behind them. */
function reseal(p: Buffer, opts: { bodies?: boolean } = {}): Buffer {
  const h = parsePatchHeader(p);
  if (opts.bodies) {
    let off = bodiesStart(h.chunkCount);
    for (let i = 0; i < h.chunkCount; i++) {
      const at = HEADER_SIZE + ENTRY_SIZE * i;
      const len = p.readUInt32LE(at + 16) + p.readUInt32LE(at + 20) + p.readUInt32LE(at + 24);
      createHash('sha256').update(p.subarray(off, off + len)).digest().copy(p, at + 28);
      off += len;
    }
  }
  createHash('sha256').update(p.subarray(0, 128)).update(p.subarray(HEADER_SIZE, bodiesStart(h.chunkCount))).digest().copy(p, 128);
  return p;
}

function failure(fn: () => unknown): PatchError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PatchError) return err;
    throw new Error(`expected a PatchError, got ${String(err)}`);
  }
  throw new Error('expected a PatchError, but the patch applied');
}

describe('bad patches', () => {
  const { oldImg, newImg } = editedPair(31, 120_000);
  let patch: Buffer;
  const mut = (f: (p: Buffer) => void): Buffer => {
    const p = Buffer.from(patch);
    f(p);
    return p;
  };

  beforeAll(async () => {
    patch = await encodePatch(oldImg, newImg, { chunkSize: 16_384 });
    expect(parsePatchHeader(patch).chunkCount).toBeGreaterThanOrEqual(4);
  });

  it('refuses a patch for another base, naming the digest', () => {
    const other = Buffer.from(oldImg);
    other[5] = other[5]! ^ 1;
    const e = failure(() => applyPatch(other, patch));
    expect(e.code).toBe('PATCH_BASE_MISMATCH');
    expect(e.message).toMatch(/base SHA-256/);
    expect(failure(() => applyPatch(oldImg.subarray(1), patch)).code).toBe('PATCH_BASE_MISMATCH');
  });

  it('refuses a wrong magic and a newer format version', () => {
    expect(failure(() => applyPatch(oldImg, mut((p) => p.write('BSDI', 0)))).code).toBe('PATCH_BAD_MAGIC');
    const e = failure(() => applyPatch(oldImg, mut((p) => p.writeUInt16LE(3, 4))));
    expect(e.code).toBe('PATCH_UNSUPPORTED_VERSION');
    expect(e.message).toMatch(/format_version = 3/);
  });

  it.each([
    ['header_size', (p: Buffer) => p.writeUInt16LE(200, 6), 'PATCH_BAD_HEADER_SIZE'],
    ['compressor', (p: Buffer) => p.writeUInt8(2, 8), 'PATCH_UNSUPPORTED_COMPRESSOR'],
    ['flags', (p: Buffer) => p.writeUInt8(0x82, 9), 'PATCH_BAD_FLAGS'],
    ['reserved0', (p: Buffer) => p.writeUInt16LE(1, 10), 'PATCH_BAD_RESERVED'],
    ['result_size', (p: Buffer) => p.writeUInt32LE(17 * 1024 * 1024, 48), 'PATCH_BAD_RESULT_SIZE'],
    ['chunk_count', (p: Buffer) => p.writeUInt32LE(0xffffffff, 84), 'PATCH_BAD_CHUNK_COUNT'],
    ['chunk_size', (p: Buffer) => p.writeUInt32LE(0x7fffffff, 88), 'PATCH_BAD_CHUNK_SIZE'],
    ['max_body_len', (p: Buffer) => p.writeUInt32LE(0x7fffffff, 92), 'PATCH_BAD_MAX_BODY'],
    ['coder[diff].dict_size', (p: Buffer) => p.writeUInt32LE(1 << 20, 104 + 4), 'PATCH_BAD_CODER'],
    ['coder[extra].props', (p: Buffer) => p.writeUInt8(250, 112), 'PATCH_BAD_CODER'],
    ['coder[control].transform', (p: Buffer) => p.writeUInt8(9, 97), 'PATCH_UNSUPPORTED_TRANSFORM'],
    ['reserved1', (p: Buffer) => p.writeUInt8(1, 121), 'PATCH_BAD_RESERVED'],
  ])('refuses an out-of-range header field %s, naming it', (field, f, code) => {
    const e = failure(() => applyPatch(oldImg, mut(f)));
    expect(e.code).toBe(code);
    expect(e.message).toContain(field);
  });

  it('refuses a header changed after the table digest was made', () => {
    const e = failure(() => applyPatch(oldImg, mut((p) => p.writeUInt32LE(p.readUInt32LE(88) + 4096, 88))));
    expect(e.code).toBe('PATCH_TABLE_DIGEST_MISMATCH');
  });

  it('names the chunk whose table entry is inconsistent', () => {
    const e = failure(() => applyPatch(oldImg, reseal(mut((p) => p.writeUInt32LE(p.readUInt32LE(HEADER_SIZE + ENTRY_SIZE * 2) + 1, HEADER_SIZE + ENTRY_SIZE * 2)))));
    expect(e.code).toBe('PATCH_BAD_CHUNK_OFFSET');
    expect(e.chunk).toBe(2);
    const e2 = failure(() => applyPatch(oldImg, reseal(mut((p) => p.writeUInt32LE(0, HEADER_SIZE + ENTRY_SIZE + 8)))));
    expect(e2.code).toBe('PATCH_BAD_STREAM_LENGTH');
    expect(e2.chunk).toBe(1);
  });

  it('refuses a truncated patch, naming the incomplete chunk', () => {
    const h = parsePatchHeader(patch);
    const e = failure(() => applyPatch(oldImg, patch.subarray(0, patch.length - 10)));
    expect(e.code).toBe('PATCH_SIZE_MISMATCH');
    expect(e.chunk).toBe(h.chunkCount - 1);
    expect(failure(() => applyPatch(oldImg, patch.subarray(0, 100))).code).toBe('PATCH_SIZE_MISMATCH');
    expect(failure(() => applyPatch(oldImg, patch.subarray(0, HEADER_SIZE + 5))).code).toBe('PATCH_SIZE_MISMATCH');
    expect(failure(() => applyPatch(oldImg, Buffer.concat([patch, Buffer.from([0])]))).code).toBe('PATCH_SIZE_MISMATCH');
  });

  it('refuses a corrupt chunk before decoding it, and the streaming applier hands out only earlier chunks', () => {
    const h = parsePatchHeader(patch);
    const a0 = new StreamingApplier({ base: oldImg });
    a0.push(patch.subarray(0, bodiesStart(h.chunkCount)));
    const at = a0.bodyOffset(2) + 3;
    const bad = mut((p) => {
      p[at] = p[at]! ^ 0x40;
    });
    const e = failure(() => applyPatch(oldImg, bad));
    expect(e.code).toBe('PATCH_CHUNK_DIGEST_MISMATCH');
    expect(e.chunk).toBe(2);
    const a = new StreamingApplier({ base: oldImg });
    const got: number[] = [];
    expect(() => {
      for (let i = 0; i < bad.length; i += 1000) for (const o of a.push(bad.subarray(i, i + 1000))) got.push(o.index);
    }).toThrow(PatchError);
    expect(got).toEqual([0, 1]);
  });

  it('refuses a patch that ends early when streamed', () => {
    const a = new StreamingApplier({ base: oldImg });
    a.push(patch.subarray(0, patch.length - 1));
    expect(() => a.end()).toThrow(/ends inside chunk/);
  });

  it('turns any corruption of authenticated stream bytes into a PatchError, never a crash or a wrong image (property)', () => {
    // The digests are recomputed, so this reaches the LZMA decoder and the control interpreter.
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const h = parsePatchHeader(patch);
        const start = bodiesStart(h.chunkCount);
        const p = Buffer.from(patch);
        const i = start + (pos % (p.length - start));
        p[i] = p[i]! ^ x;
        reseal(p, { bodies: true });
        let out: Buffer | undefined;
        try {
          out = applyPatch(oldImg, p);
        } catch (err) {
          expect(err).toBeInstanceOf(PatchError);
          return;
        }
        // a flip the decoder never reads (past an end marker) may still give the right image
        expect(out.equals(newImg)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a full-image patch given a base, and a delta given none', async () => {
    const full = await encodePatch(new Uint8Array(0), prng(9, 3000));
    expect(failure(() => applyPatch(oldImg, full)).code).toBe('PATCH_BASE_MISMATCH');
    expect(failure(() => applyPatch(new Uint8Array(0), patch)).code).toBe('PATCH_BASE_MISMATCH');
  });
});
