/**
 * A decoder for the detools sequential patches of patch.ts, used to check every patch before it is
 * stored (the detools C library is the independent check in the tests). Errors name what is wrong.
 */
import { DETOOLS_COMPRESSION_HEATSHRINK, DETOOLS_COMPRESSION_NONE, DETOOLS_PATCH_SEQUENTIAL } from './patch.ts';

export class DetoolsPatchError extends Error {
  override readonly name = 'DetoolsPatchError';
}

/** Decodes a heatshrink stream until its bits run out (zero padding of the last byte never completes an item). */
export function heatshrinkDecode(data: Uint8Array, windowBits: number, lookaheadBits: number, limit = Number.MAX_SAFE_INTEGER): Buffer {
  const out: number[] = [];
  const total = data.length * 8;
  let bit = 0;
  const get = (n: number): number | undefined => {
    if (bit + n > total) return undefined;
    let v = 0;
    for (let i = 0; i < n; i++, bit++) v = (v << 1) | ((data[bit >> 3]! >> (7 - (bit & 7))) & 1);
    return v;
  };
  while (out.length < limit) {
    const tag = get(1);
    if (tag === undefined) break;
    if (tag === 1) {
      const b = get(8);
      if (b === undefined) break;
      out.push(b);
      continue;
    }
    const index = get(windowBits);
    const count = get(lookaheadBits);
    if (index === undefined || count === undefined) break;
    const from = out.length - (index + 1);
    if (from < 0) throw new DetoolsPatchError(`heatshrink back-reference ${index + 1} bytes back at output ${out.length} reaches before the start`);
    for (let i = 0; i <= count; i++) out.push(out[from + i]!);
  }
  return Buffer.from(out);
}

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array, private readonly what: string) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new DetoolsPatchError(`${this.what} ends early at byte ${this.pos}`);
    return this.b[this.pos++]!;
  }
  size(): number {
    let b = this.byte();
    const negative = (b & 0x40) !== 0;
    let v = b & 0x3f;
    let mul = 64;
    while (b & 0x80) {
      b = this.byte();
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 42) throw new DetoolsPatchError(`${this.what}: a packed size at byte ${this.pos} is too long`);
    }
    return negative ? -v : v;
  }
  take(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.b.length) throw new DetoolsPatchError(`${this.what}: ${n} bytes asked at byte ${this.pos}, ${this.b.length - this.pos} left`);
    const s = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

export function applyDetoolsPatch(base: Uint8Array, patch: Uint8Array): Buffer {
  const head = new Reader(patch, 'detools patch header');
  const b0 = head.byte();
  if (b0 >> 4 !== DETOOLS_PATCH_SEQUENTIAL) throw new DetoolsPatchError(`patch type ${b0 >> 4} is not sequential (0)`);
  const compression = b0 & 0x0f;
  const toSize = head.size();
  if (toSize < 0) throw new DetoolsPatchError(`to-size ${toSize} is negative`);
  const out = Buffer.alloc(toSize);
  if (toSize === 0) return out;
  let stream: Uint8Array;
  if (compression === DETOOLS_COMPRESSION_NONE) stream = patch.subarray(head.pos);
  else if (compression === DETOOLS_COMPRESSION_HEATSHRINK) {
    const hs = head.byte();
    stream = heatshrinkDecode(patch.subarray(head.pos), (hs >> 4) + 4, (hs & 0x0f) + 3);
  } else throw new DetoolsPatchError(`compression ${compression} is not none (0) or heatshrink (4)`);
  const r = new Reader(stream, 'detools patch stream');
  if (r.size() !== 0) throw new DetoolsPatchError('dfpatch data is not supported');
  let to = 0;
  let from = 0;
  while (to < toSize) {
    const diff = r.size();
    if (diff < 0 || to + diff > toSize) throw new DetoolsPatchError(`diff of ${diff} bytes at ${to} runs past the ${toSize}-byte image`);
    if (from < 0 || from + diff > base.length) throw new DetoolsPatchError(`diff at base offset ${from} runs outside the ${base.length}-byte base`);
    const d = r.take(diff);
    for (let i = 0; i < diff; i++) out[to + i] = (d[i]! + base[from + i]!) & 0xff;
    to += diff;
    from += diff;
    const extra = r.size();
    if (extra < 0 || to + extra > toSize) throw new DetoolsPatchError(`extra of ${extra} bytes at ${to} runs past the ${toSize}-byte image`);
    out.set(r.take(extra), to);
    to += extra;
    from += r.size();
  }
  return out;
}
