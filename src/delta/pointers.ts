/**
 * Pointer prediction on the diff stream (FORMAT.md section 5.2, transform 1, format v2).
 *
 * When code moves, every absolute address that points behind the move changes by the same amount; a
 * byte-wise diff sees each such pointer as up to four unrelated nonzero bytes. Here each aligned base
 * word whose value lies in one of two address windows (the base image's load addresses) is predicted
 * as `value + shift`, where `shift` is what the last pointer into the same 16 KiB page moved by in
 * this chunk; the diff stream then carries only the error of that guess, mostly zeros.
 * Encoder and decoder run the same model, so it costs no patch bytes beyond the 8-byte window field.
 */

/** log2 of the page a shift is learnt for, and of the shift table's entries (FORMAT.md 5.2). */
export const PAGE_SHIFT = 14;
export const TABLE_ENTRIES = 512;

/** Address windows `[lo << 16, hi << 16)`, as the header stores them; `lo == hi` is an empty window. */
export type PointerWindows = [[number, number], [number, number]];

export const NO_WINDOWS: PointerWindows = [
  [0, 0],
  [0, 0],
];

const SEGMENT_MAGIC = 0xe9;
const IMAGE_HEADER = 24;
const MAX_SEGMENTS = 16;

/**
 * The two address windows for a base image: the load addresses of its segments (ESP-IDF app image:
 * magic 0xE9, segment count at byte 1, 24-byte header, then `addr u32, len u32, data` per segment),
 * split at the widest gap into two windows in 64 KiB units. Anything that is not such an image gets
 * no windows, and the patch no prediction.
 */
export function pointerWindows(base: Uint8Array): PointerWindows {
  if (base.length < IMAGE_HEADER || base[0] !== SEGMENT_MAGIC) return NO_WINDOWS;
  const count = base[1]!;
  if (count < 1 || count > MAX_SEGMENTS) return NO_WINDOWS;
  const view = new DataView(base.buffer, base.byteOffset, base.length);
  const ranges: Array<[number, number]> = [];
  let at = IMAGE_HEADER;
  for (let i = 0; i < count; i++) {
    if (at + 8 > base.length) return NO_WINDOWS;
    const addr = view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    at += 8 + len;
    if (at > base.length) return NO_WINDOWS;
    if (len > 0) ranges.push([Math.floor(addr / 65536), Math.min(0xffff, Math.ceil((addr + len) / 65536))]);
  }
  if (ranges.length === 0) return NO_WINDOWS;
  ranges.sort((a, b) => a[0] - b[0]);
  // split where the next range starts farthest beyond everything before it
  let split = ranges.length;
  let widest = 0;
  let reach = ranges[0]![1];
  for (let i = 1; i < ranges.length; i++) {
    const gap = ranges[i]![0] - reach;
    if (gap > widest) {
      widest = gap;
      split = i;
    }
    reach = Math.max(reach, ranges[i]![1]);
  }
  const hull = (rs: Array<[number, number]>): [number, number] => [Math.min(...rs.map((r) => r[0])), Math.max(...rs.map((r) => r[1]))];
  const first = hull(ranges.slice(0, split));
  const second = split < ranges.length ? hull(ranges.slice(split)) : ([0, 0] as [number, number]);
  return [first, second];
}

export function hasWindows(w: PointerWindows): boolean {
  return w[0][0] < w[0][1] || w[1][0] < w[1][1];
}

/**
 * The model of section 5.2 for one chunk. `word(value)` answers the predicted word for a base word, or
 * `undefined` when the word is outside both windows (then it is diffed byte by byte as in v1);
 * `learn(value, result)` records what it became.
 */
export class PointerModel {
  private readonly shifts = new Int32Array(TABLE_ENTRIES);

  constructor(private readonly windows: PointerWindows) {}

  inWindow(v: number): boolean {
    const h = v >>> 16;
    const [[a, b], [c, d]] = this.windows;
    return (h >= a && h < b) || (h >= c && h < d);
  }

  predict(v: number): number {
    return (v + this.shifts[(v >>> PAGE_SHIFT) & (TABLE_ENTRIES - 1)]!) >>> 0;
  }

  learn(v: number, result: number): void {
    this.shifts[(v >>> PAGE_SHIFT) & (TABLE_ENTRIES - 1)] = (result - v) | 0;
  }
}

function le32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * The base word at `base[oldPos..]` if section 5.2 predicts it: the result offset `outPos` is 4-aligned,
 * the word lies inside the diff run (`left` bytes remain in it) and its value is in a window.
 */
function predictedBase(model: PointerModel | undefined, outPos: number, left: number, base: Uint8Array, oldPos: number): number | undefined {
  if (!model || (outPos & 3) !== 0 || left < 4) return undefined;
  const v = le32(base, oldPos);
  return model.inWindow(v) ? v : undefined;
}

/**
 * Diff bytes of one control entry's diff run: `len` output bytes from `newImg[outPos..]` against
 * `base[oldPos..]`, written to `diff[dp..]`. `model` undefined = transform 0 (plain byte-wise diff).
 */
export function diffRun(diff: Uint8Array, dp: number, newImg: Uint8Array, outPos: number, base: Uint8Array, oldPos: number, len: number, model: PointerModel | undefined): void {
  for (let i = 0; i < len; ) {
    const v = predictedBase(model, outPos + i, len - i, base, oldPos + i);
    if (v === undefined) {
      diff[dp + i] = newImg[outPos + i]! - base[oldPos + i]!;
      i++;
      continue;
    }
    const p = model!.predict(v);
    for (let k = 0; k < 4; k++) diff[dp + i + k] = newImg[outPos + i + k]! - ((p >>> (8 * k)) & 0xff);
    model!.learn(v, le32(newImg, outPos + i));
    i += 4;
  }
}

/**
 * The inverse of diffRun: `len` output bytes into `out[op..]` from `base[oldPos..]` and `diff[dp..]`.
 * `outPos` is the output offset of `out[op]` in the whole result (alignment is by result offset).
 */
export function undiffRun(out: Uint8Array, op: number, outPos: number, base: Uint8Array, oldPos: number, diff: Uint8Array, dp: number, len: number, model: PointerModel | undefined): void {
  for (let i = 0; i < len; ) {
    const v = predictedBase(model, outPos + i, len - i, base, oldPos + i);
    if (v === undefined) {
      out[op + i] = (base[oldPos + i]! + diff[dp + i]!) & 0xff;
      i++;
      continue;
    }
    const p = model!.predict(v);
    for (let k = 0; k < 4; k++) out[op + i + k] = (((p >>> (8 * k)) & 0xff) + diff[dp + i + k]!) & 0xff;
    model!.learn(v, le32(out, op + i));
    i += 4;
  }
}
