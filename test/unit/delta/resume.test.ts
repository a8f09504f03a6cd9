import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, encodePatch, HEADER_SIZE, parsePatchHeader, StreamingApplier } from '../../../src/delta/index.ts';
import { bodiesStart } from '../../../src/delta/format.ts';
import type { PointerWindows } from '../../../src/delta/pointers.ts';
import { editedPair } from './fixtures.ts';

// v2: pointer windows over the whole address space, so every aligned word of a diff run is predicted
describe.each([
  ['v1', {}],
  ['v2 with pointer prediction', { pointerWindows: [[0, 0xffff], [0, 0]] as PointerWindows }],
])('streaming and resuming (%s)', (label, opts) => {
  const { oldImg, newImg } = editedPair(21, 150_000);
  let patch: Buffer;

  beforeAll(async () => {
    patch = await encodePatch(oldImg, newImg, { chunkSize: 16_384, ...opts });
    expect(parsePatchHeader(patch).formatVersion).toBe(label === 'v1' ? 1 : 2);
  });

  it('produces the image when fed one byte at a time', () => {
    const a = new StreamingApplier({ base: oldImg });
    const outs: Buffer[] = [];
    for (let i = 0; i < patch.length; i++) for (const o of a.push(patch.subarray(i, i + 1))) outs.push(Buffer.from(o.data));
    a.end();
    expect(Buffer.concat(outs).equals(newImg)).toBe(true);
  });

  it('hands out a chunk as soon as its body is complete, not later', () => {
    const a = new StreamingApplier({ base: oldImg });
    expect(a.push(patch.subarray(0, HEADER_SIZE))).toEqual([]);
    const h = parsePatchHeader(patch);
    expect(a.push(patch.subarray(HEADER_SIZE, bodiesStart(h.chunkCount)))).toEqual([]);
    const end0 = a.bodyOffset(1);
    expect(a.push(patch.subarray(bodiesStart(h.chunkCount), end0 - 1))).toEqual([]);
    const outs = a.push(patch.subarray(end0 - 1, end0));
    expect(outs.map((o) => o.index)).toEqual([0]);
  });

  it('gives identical output when resumed from every chunk boundary', () => {
    const h = parsePatchHeader(patch);
    expect(h.chunkCount).toBeGreaterThanOrEqual(4);
    const head = patch.subarray(0, bodiesStart(h.chunkCount));
    for (let k = 0; k <= h.chunkCount; k++) {
      const a = new StreamingApplier({ base: oldImg, resumeAt: k });
      expect(a.push(head)).toEqual([]);
      const from = a.bodyOffset(k);
      const outs = a.push(patch.subarray(from));
      a.end();
      expect(outs.map((o) => o.index)).toEqual(Array.from({ length: h.chunkCount - k }, (_, i) => k + i));
      const offset = outs[0]?.offset ?? newImg.length;
      const tail = Buffer.concat(outs.map((o) => Buffer.from(o.data)));
      expect(tail.equals(newImg.subarray(offset))).toBe(true);
      // the resumed tail plus the prefix written before the power cut is the whole image
      const whole = Buffer.concat([newImg.subarray(0, offset), tail]);
      expect(createHash('sha256').update(whole).digest('hex')).toBe(h.resultSha256);
    }
  });

  it('applies in one call too', () => {
    expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
  });
});
