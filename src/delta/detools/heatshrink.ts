/**
 * A heatshrink (LZSS) encoder whose output the heatshrink decoder in detools (c/heatshrink,
 * heatshrink_decoder.c) reads. Bitstream, most significant bit first: tag 1 + 8-bit literal, or tag 0 +
 * (offset - 1) in `windowBits` + (length - 1) in `lookaheadBits`; the decoder copies a back-reference
 * byte by byte, so it may overlap the bytes it produces. The last byte is padded with zero bits (a
 * decoder reading exactly the output size never looks at them).
 */

export interface HeatshrinkParams {
  /** log2 of the window (back-reference reach): 4..15. */
  windowBits: number;
  /** log2 of the longest back-reference: 3..windowBits-1. */
  lookaheadBits: number;
}

/**
 * detools' static decoder build (heatshrink_config.h: HEATSHRINK_STATIC_WINDOW_BITS 8,
 * HEATSHRINK_STATIC_LOOKAHEAD_BITS 7), which esp_delta_ota uses: a patch for any other pair is refused
 * there with DETOOLS_HEATSHRINK_HEADER. Pinned here (and recorded in each patch's header byte) so a
 * changed default never moves the format under deployed devices.
 */
export const ESP_DELTA_OTA_HEATSHRINK: HeatshrinkParams = Object.freeze({ windowBits: 8, lookaheadBits: 7 });

class BitWriter {
  private readonly out: number[] = [];
  private cur = 0;
  private used = 0;

  put(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.cur = (this.cur << 1) | ((value >>> i) & 1);
      if (++this.used === 8) {
        this.out.push(this.cur);
        this.cur = 0;
        this.used = 0;
      }
    }
  }

  finish(): Buffer {
    if (this.used > 0) this.out.push(this.cur << (8 - this.used));
    return Buffer.from(this.out);
  }
}

const CHAIN_LIMIT = 64;

export function heatshrinkEncode(data: Uint8Array, p: HeatshrinkParams = ESP_DELTA_OTA_HEATSHRINK): Buffer {
  if (p.windowBits < 4 || p.windowBits > 15 || p.lookaheadBits < 3 || p.lookaheadBits >= p.windowBits) {
    throw new RangeError(`heatshrink window ${p.windowBits} / lookahead ${p.lookaheadBits} bits: need 4..15 and 3..window-1`);
  }
  const window = 1 << p.windowBits;
  const maxLen = 1 << p.lookaheadBits;
  // A back-reference costs 1 + window + lookahead bits, a literal 9: shorter matches are sent as literals.
  const minLen = Math.floor((1 + p.windowBits + p.lookaheadBits) / 9) + 1;
  const n = data.length;
  const head = new Int32Array(65536).fill(-1);
  const prev = new Int32Array(Math.max(1, n));
  const insert = (i: number) => {
    if (i + 1 >= n) return;
    const h = (data[i]! << 8) | data[i + 1]!;
    prev[i] = head[h]!;
    head[h] = i;
  };
  const w = new BitWriter();
  let pos = 0;
  while (pos < n) {
    let bestLen = 0;
    let bestOff = 0;
    if (pos + 1 < n) {
      const limit = Math.min(maxLen, n - pos);
      let cand = head[(data[pos]! << 8) | data[pos + 1]!]!;
      for (let chain = 0; cand >= 0 && pos - cand <= window && chain < CHAIN_LIMIT; chain++) {
        let l = 0;
        while (l < limit && data[cand + l] === data[pos + l]) l++;
        if (l > bestLen) {
          bestLen = l;
          bestOff = pos - cand;
          if (l === limit) break;
        }
        cand = prev[cand]!;
      }
    }
    if (bestLen >= minLen) {
      w.put(0, 1);
      w.put(bestOff - 1, p.windowBits);
      w.put(bestLen - 1, p.lookaheadBits);
      for (let i = 0; i < bestLen; i++) insert(pos + i);
      pos += bestLen;
    } else {
      w.put(1, 1);
      w.put(data[pos]!, 8);
      insert(pos);
      pos++;
    }
  }
  return w.finish();
}
