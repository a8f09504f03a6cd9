import { createHash } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, encodePatch, parsePatchHeader, PatchError } from '../../../src/delta/index.ts';
import { bodiesStart, HEADER_SIZE } from '../../../src/delta/format.ts';
import { bsdiffMatches } from '../../../src/delta/bsdiff.ts';
import { NO_WINDOWS, pointerWindows, type PointerWindows } from '../../../src/delta/pointers.ts';
import { buildChunkStreams } from '../../../src/delta/streams.ts';
import { readCorpus } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { applyWithC, buildFirmware } from '../firmware/fw.ts';
import { editedPair, prng } from './fixtures.ts';

/** An ESP-IDF app image: 0xE9, segment count, 24-byte header, then `addr, len, data` per segment. */
function espImage(segments: Array<{ addr: number; data: Buffer }>): Buffer {
  const head = Buffer.alloc(24);
  head[0] = 0xe9;
  head[1] = segments.length;
  const parts: Buffer[] = [head];
  for (const s of segments) {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(s.addr, 0);
    h.writeUInt32LE(s.data.length, 4);
    parts.push(h, s.data);
  }
  return Buffer.concat(parts);
}

const DROM = 0x3f400000;

/**
 * A data segment of pointer tables into itself (each pointer followed by 12 bytes of other data) and the
 * same segment after 64 bytes were inserted at `insertAt`: every pointer to a byte behind the insertion
 * moved by 64, as a linker moves them.
 */
function relocatedPair(seed: number, words: number, insertAt: number): { oldImg: Buffer; newImg: Buffer } {
  const rnd = prng(seed, words * 16);
  const seg = Buffer.alloc(words * 16);
  for (let i = 0; i < words; i++) {
    seg.writeUInt32LE(DROM + (rnd.readUInt32LE(16 * i) % seg.length), 16 * i);
    rnd.copy(seg, 16 * i + 4, 16 * i + 4, 16 * i + 16);
  }
  const moved = Buffer.from(seg);
  for (let i = 0; i < words; i++) {
    const v = moved.readUInt32LE(16 * i);
    if (v - DROM >= insertAt) moved.writeUInt32LE(v + 64, 16 * i);
  }
  const code = prng(seed + 1, 4000);
  const oldImg = espImage([{ addr: DROM, data: seg }, { addr: 0x400d0018, data: code }]);
  const newImg = espImage([{ addr: DROM, data: Buffer.concat([moved.subarray(0, insertAt), prng(seed + 2, 64), moved.subarray(insertAt)]) }, { addr: 0x400d0018, data: code }]);
  return { oldImg, newImg };
}

function nonzero(b: Uint8Array): number {
  let n = 0;
  for (const x of b) if (x !== 0) n++;
  return n;
}

describe('pointer windows read from the base image (FORMAT.md 5.2)', () => {
  it('splits the segments of an ESP32 release at the widest address gap, in 64 KiB units', () => {
    expect(pointerWindows(readCorpus('wled-esp32/0.14.3.bin'))).toEqual([
      [0x3f40, 0x3f45],
      [0x3ffb, 0x401c],
    ]);
    expect(pointerWindows(readCorpus('nerdminer-tdisplay-s3/1.6.0.bin'))).toEqual([
      [0x3c0d, 0x3c1a],
      [0x3fc9, 0x420d],
    ]);
  });

  it('gives an image of one segment one window, and anything that is not an app image none', () => {
    expect(pointerWindows(espImage([{ addr: 0x3f400020, data: Buffer.alloc(100) }]))).toEqual([
      [0x3f40, 0x3f41],
      [0, 0],
    ]);
    expect(pointerWindows(prng(3, 5000))).toEqual(NO_WINDOWS);
    const truncated = espImage([{ addr: DROM, data: Buffer.alloc(100) }]).subarray(0, 80);
    expect(pointerWindows(truncated)).toEqual(NO_WINDOWS);
    const tooMany = espImage([{ addr: DROM, data: Buffer.alloc(4) }]);
    tooMany[1] = 17;
    expect(pointerWindows(tooMany)).toEqual(NO_WINDOWS);
    expect(pointerWindows(new Uint8Array(0))).toEqual(NO_WINDOWS);
  });
});

describe('pointer prediction on the diff stream', () => {
  const tmp = tempDir('furrow-pointers-');
  let n = 0;
  beforeAll(() => buildFirmware());
  afterAll(() => tmp.cleanup());

  const applyC = (base: Buffer, patch: Buffer) => applyWithC(join(tmp.dir, String(n++)), base, patch);

  it('turns pointers moved by a relocation into zero diff bytes', async () => {
    // inserted at a 16 KiB page boundary: pointers into the first page stay, those into the second move
    const { oldImg, newImg } = relocatedPair(5, 2000, 16384);
    const matches = await bsdiffMatches(oldImg, newImg);
    const plain = buildChunkStreams(oldImg, newImg, matches, [newImg.length])[0]!;
    const predicted = buildChunkStreams(oldImg, newImg, matches, [newImg.length], pointerWindows(oldImg))[0]!;
    expect(predicted.control).toEqual(plain.control);
    // about half of the pointers moved; all but the first into the moved page are predicted
    expect(nonzero(plain.diff)).toBeGreaterThan(1000);
    expect(nonzero(predicted.diff)).toBeLessThan(nonzero(plain.diff) / 10);

    const v2 = await encodePatch(oldImg, newImg);
    const v1 = await encodePatch(oldImg, newImg, { formatVersion: 1 });
    expect(parsePatchHeader(v2)).toMatchObject({ formatVersion: 2, pointerWindows: [[0x3f40, 0x3f41], [0x400d, 0x400e]] });
    expect(parsePatchHeader(v2).coders[1].transform).toBe(1);
    expect(v2.length).toBeLessThan(v1.length);
    expect(applyPatch(oldImg, v2).equals(newImg)).toBe(true);
    const c = applyC(oldImg, v2);
    expect(c.last).toMatchObject({ event: 'done' });
    expect(c.result.subarray(0, newImg.length).equals(newImg)).toBe(true);
  });

  it('writes a version 1 patch, which a v1 device decodes, when asked for format 1 or when the base has no windows', async () => {
    const { oldImg, newImg } = relocatedPair(6, 500, 10);
    const v1 = await encodePatch(oldImg, newImg, { formatVersion: 1 });
    const h = parsePatchHeader(v1);
    expect(h.formatVersion).toBe(1);
    expect(h.coders.map((c) => c.transform)).toEqual([0, 0, 0]);
    expect(v1.subarray(120, 128).every((b) => b === 0)).toBe(true);
    expect(applyPatch(oldImg, v1).equals(newImg)).toBe(true);
    const plain = editedPair(4, 20_000);
    expect(parsePatchHeader(await encodePatch(plain.oldImg, plain.newImg)).formatVersion).toBe(1);
  });

  it('round-trips any edit with every aligned word predicted, in both decoders (property)', async () => {
    const everything: PointerWindows = [
      [0, 0xffff],
      [0xffff, 0xffff],
    ];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 30_000 }), fc.integer({ min: 4096, max: 20_000 }), async (seed, size, chunkSize) => {
        const { oldImg, newImg } = editedPair(seed, size);
        const patch = await encodePatch(oldImg, newImg, { chunkSize, pointerWindows: everything });
        expect(parsePatchHeader(patch).formatVersion).toBe(2);
        expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
        const c = applyC(oldImg, patch);
        expect(c.last).toMatchObject({ event: 'done' });
        expect(c.result.subarray(0, newImg.length).equals(newImg)).toBe(true);
      }),
      { numRuns: 8 },
    );
  });

  describe('bad v2 header fields', () => {
    let patch: Buffer;
    let base: Buffer;
    beforeAll(async () => {
      const pair = relocatedPair(7, 800, 3000);
      base = pair.oldImg;
      patch = await encodePatch(pair.oldImg, pair.newImg);
      expect(parsePatchHeader(patch).formatVersion).toBe(2);
    });
    /** Changes the header and re-seals the table digest, so the field check itself is reached. */
    const mutate = (f: (p: Buffer) => void): Buffer => {
      const p = Buffer.from(patch);
      f(p);
      const count = p.readUInt32LE(84);
      createHash('sha256').update(p.subarray(0, 128)).update(p.subarray(HEADER_SIZE, bodiesStart(count))).digest().copy(p, 128);
      return p;
    };

    it.each([
      ['transform 1 on the control stream', (p: Buffer) => p.writeUInt8(1, 97), 'UNSUPPORTED_TRANSFORM', 'coder[control].transform'],
      ['transform 1 on the extra stream', (p: Buffer) => p.writeUInt8(1, 113), 'UNSUPPORTED_TRANSFORM', 'coder[extra].transform'],
      ['an unknown transform 2 on the diff stream', (p: Buffer) => p.writeUInt8(2, 105), 'UNSUPPORTED_TRANSFORM', 'coder[diff].transform = 2'],
      ['transform 1 in a patch that says version 1', (p: Buffer) => p.writeUInt16LE(1, 4), 'UNSUPPORTED_TRANSFORM', 'version 1'],
      ['a pointer window whose start is above its end', (p: Buffer) => p.writeUInt16LE(0xffff, 124), 'BAD_POINTER_WINDOW', 'pointer_windows[1]'],
      ['pointer windows without transform 1', (p: Buffer) => p.writeUInt8(0, 105), 'BAD_RESERVED', 'pointer_windows'],
    ])('refuses %s, naming the field, in both decoders', (_what, f, name, field) => {
      const bad = mutate(f);
      let err: unknown;
      try {
        applyPatch(base, bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PatchError);
      expect((err as PatchError).formatName).toBe(name);
      expect((err as PatchError).message).toContain(field);
      expect(applyC(base, bad).last).toMatchObject({ event: 'error', message: 'not a furrow patch of a supported version' });
    });
  });
});
