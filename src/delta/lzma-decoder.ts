/**
 * Raw LZMA1 decoder written from the LZMA specification (Igor Pavlov, lzma-specification.txt /
 * LzmaSpec.cpp), with the furrow rules of FORMAT.md section 6: no header, a known output length,
 * an optional end marker after it, never reading past the stream's compressed length, and no match
 * reaching further back than the dictionary size (so a stream the device would refuse is refused here).
 */

export interface LzmaParams {
  lc: number;
  lp: number;
  pb: number;
  dictSize: number;
}

/** Why a stream failed; the caller wraps it into a PatchError naming chunk and stream. */
export class LzmaError extends Error {
  constructor(
    readonly kind: 'BAD_STREAM' | 'STREAM_TRUNCATED',
    message: string,
  ) {
    super(message);
  }
}

const TOP = 1 << 24;
const PROB_INIT = 1024;
const NUM_STATES = 12;
const POS_STATES_MAX = 16;
const END_POS_MODEL = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const MATCH_MIN = 2;

class RangeDecoder {
  range = 0xffffffff;
  code = 0;
  pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
    if (this.next() !== 0) throw new LzmaError('BAD_STREAM', 'first byte of the range coder is not 0');
    for (let i = 0; i < 4; i++) this.code = ((this.code << 8) | this.next()) >>> 0;
    if (this.code === this.range) throw new LzmaError('BAD_STREAM', 'range coder starts in an invalid state');
  }

  private next(): number {
    if (this.pos >= this.end) throw new LzmaError('STREAM_TRUNCATED', 'compressed stream ends early');
    return this.buf[this.pos++]!;
  }

  private normalize(): void {
    if (this.range < TOP) {
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.next()) >>> 0;
    }
  }

  bit(probs: Uint16Array, i: number): number {
    const p = probs[i]!;
    const bound = (this.range >>> 11) * p;
    let b: number;
    if (this.code < bound) {
      probs[i] = p + ((2048 - p) >>> 5);
      this.range = bound;
      b = 0;
    } else {
      probs[i] = p - (p >>> 5);
      this.code -= bound;
      this.range -= bound;
      b = 1;
    }
    this.normalize();
    return b;
  }

  direct(n: number): number {
    let res = 0;
    for (let i = 0; i < n; i++) {
      this.range >>>= 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        b = 1;
      }
      res = ((res << 1) | b) >>> 0;
      this.normalize();
    }
    return res;
  }

  tree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) + this.bit(probs, base + m);
    return m - (1 << bits);
  }

  reverseTree(probs: Uint16Array, base: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, base + m);
      m = (m << 1) + b;
      sym |= b << i;
    }
    return sym;
  }
}

class LenDecoder {
  // choice, choice2, low[16][8], mid[16][8], high[256]
  readonly p = new Uint16Array(2 + POS_STATES_MAX * 8 * 2 + 256).fill(PROB_INIT);

  decode(rc: RangeDecoder, posState: number): number {
    if (rc.bit(this.p, 0) === 0) return rc.tree(this.p, 2 + posState * 8, 3);
    if (rc.bit(this.p, 1) === 0) return 8 + rc.tree(this.p, 2 + POS_STATES_MAX * 8 + posState * 8, 3);
    return 16 + rc.tree(this.p, 2 + POS_STATES_MAX * 16, 8);
  }
}

/**
 * Decodes one raw LZMA1 stream `buf[start, start+compLen)` into exactly `rawLen` bytes.
 * The TypeScript applier holds a chunk in memory, so it decodes a stream in one go; the window check
 * (`dist < dictSize`) keeps it exactly as strict as the device's circular-buffer decoder.
 */
export function decodeLzma1(buf: Uint8Array, start: number, compLen: number, rawLen: number, params: LzmaParams): Uint8Array {
  const { lc, lp, pb, dictSize } = params;
  const out = new Uint8Array(rawLen);
  if (rawLen === 0) return out;
  const rc = new RangeDecoder(buf, start, start + compLen);

  const literal = new Uint16Array(0x300 << (lc + lp)).fill(PROB_INIT);
  const isMatch = new Uint16Array(NUM_STATES << 4).fill(PROB_INIT);
  const isRep = new Uint16Array(NUM_STATES).fill(PROB_INIT);
  const isRepG0 = new Uint16Array(NUM_STATES).fill(PROB_INIT);
  const isRepG1 = new Uint16Array(NUM_STATES).fill(PROB_INIT);
  const isRepG2 = new Uint16Array(NUM_STATES).fill(PROB_INIT);
  const isRep0Long = new Uint16Array(NUM_STATES << 4).fill(PROB_INIT);
  const posSlot = new Uint16Array(4 << 6).fill(PROB_INIT);
  const posSpecial = new Uint16Array(1 + FULL_DISTANCES - END_POS_MODEL).fill(PROB_INIT);
  const align = new Uint16Array(1 << ALIGN_BITS).fill(PROB_INIT);
  const lenDec = new LenDecoder();
  const repLenDec = new LenDecoder();

  const pbMask = (1 << pb) - 1;
  const lpMask = (1 << lp) - 1;
  let state = 0;
  let rep0 = 0;
  let rep1 = 0;
  let rep2 = 0;
  let rep3 = 0;
  let pos = 0;

  const checkDist = (d: number) => {
    if (d >= pos || d >= dictSize) throw new LzmaError('BAD_STREAM', `match distance ${d + 1} reaches before the stream start or beyond the ${dictSize}-byte dictionary`);
  };

  while (pos < rawLen) {
    const posState = pos & pbMask;
    if (rc.bit(isMatch, (state << 4) + posState) === 0) {
      const prev = pos > 0 ? out[pos - 1]! : 0;
      const base = 0x300 * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
      let sym = 1;
      if (state >= 7) {
        checkDist(rep0);
        let matchByte = out[pos - rep0 - 1]!;
        while (sym < 0x100) {
          const matchBit = (matchByte >>> 7) & 1;
          matchByte <<= 1;
          const b = rc.bit(literal, base + ((1 + matchBit) << 8) + sym);
          sym = (sym << 1) | b;
          if (matchBit !== b) break;
        }
      }
      while (sym < 0x100) sym = (sym << 1) | rc.bit(literal, base + sym);
      out[pos++] = sym - 0x100;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }
    let len: number;
    if (rc.bit(isRep, state) === 0) {
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      len = lenDec.decode(rc, posState);
      state = state < 7 ? 7 : 10;
      rep0 = decodeDistance(rc, len, posSlot, posSpecial, align);
      if (rep0 === 0xffffffff) throw new LzmaError('STREAM_TRUNCATED', `end marker after ${pos} of ${rawLen} bytes`);
    } else {
      if (rc.bit(isRepG0, state) === 0) {
        if (rc.bit(isRep0Long, (state << 4) + posState) === 0) {
          checkDist(rep0);
          state = state < 7 ? 9 : 11;
          out[pos] = out[pos - rep0 - 1]!;
          pos++;
          continue;
        }
      } else {
        let dist: number;
        if (rc.bit(isRepG1, state) === 0) {
          dist = rep1;
        } else {
          if (rc.bit(isRepG2, state) === 0) {
            dist = rep2;
          } else {
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      len = repLenDec.decode(rc, posState);
      state = state < 7 ? 8 : 11;
    }
    checkDist(rep0);
    len += MATCH_MIN;
    if (pos + len > rawLen) throw new LzmaError('BAD_STREAM', `match of ${len} bytes runs past the stream's ${rawLen}-byte length`);
    let src = pos - rep0 - 1;
    for (let i = 0; i < len; i++) out[pos++] = out[src++]!;
  }
  return out;
}

function decodeDistance(rc: RangeDecoder, len: number, posSlot: Uint16Array, posSpecial: Uint16Array, align: Uint16Array): number {
  const lenState = len > 3 ? 3 : len;
  const slot = rc.tree(posSlot, lenState << 6, 6);
  if (slot < 4) return slot;
  const numDirect = (slot >>> 1) - 1;
  let dist = ((2 | (slot & 1)) << numDirect) >>> 0;
  if (slot < END_POS_MODEL) {
    // LzmaSpec indexes these probabilities 1-based from (dist - slot); posSpecial has the extra slot.
    dist += rc.reverseTree(posSpecial, dist - slot, numDirect);
  } else {
    dist += rc.direct(numDirect - ALIGN_BITS) * (1 << ALIGN_BITS);
    dist += rc.reverseTree(align, 0, ALIGN_BITS);
  }
  return dist >>> 0;
}

/** RAM the device decoder needs for one coder (FORMAT.md 6.3). */
export function coderRamBytes(p: LzmaParams): number {
  return (1846 + (768 << (p.lc + p.lp))) * 2 + p.dictSize;
}
