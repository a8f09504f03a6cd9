/**
 * The raw (uncompressed) streams of furrow chunks (FORMAT.md section 5): control entries as LEB128
 * varints, byte-wise diffs against the base, and extra bytes, built from a list of matches.
 */
import type { Match } from './matches.ts';
import { diffRun, hasWindows, NO_WINDOWS, PointerModel, type PointerWindows } from './pointers.ts';

export interface RawChunk {
  outputOffset: number;
  outputLength: number;
  control: Uint8Array;
  diff: Uint8Array;
  extra: Uint8Array;
}

class ByteWriter {
  private buf = new Uint8Array(1024);
  length = 0;

  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.grow(1);
    this.buf[this.length++] = b;
  }

  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.byte(v);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function zigzag(s: number): number {
  return s >= 0 ? s * 2 : -s * 2 - 1;
}

/**
 * Builds the three raw streams of each chunk; chunk i covers output `[ends[i-1] ?? 0, ends[i])`. With
 * pointer windows the diff stream is predicted (FORMAT.md section 5.2, a fresh model per chunk).
 */
export function buildChunkStreams(oldImg: Uint8Array, newImg: Uint8Array, matches: Match[], ends: number[], windows: PointerWindows = NO_WINDOWS): RawChunk[] {
  const chunks: RawChunk[] = [];
  let mi = 0;
  for (let k = 0; k < ends.length; k++) {
    const cs = k === 0 ? 0 : ends[k - 1]!;
    const ce = ends[k]!;
    const ctrl = new ByteWriter();
    // diff and extra bytes together are exactly the chunk's output: preallocate, no per-byte growth checks
    const diff = new Uint8Array(ce - cs);
    const extra = new Uint8Array(ce - cs);
    let dn = 0;
    let xn = 0;
    let oldPos = 0;
    const model = hasWindows(windows) ? new PointerModel(windows) : undefined;
    // the entry being built: its diff/extra lengths, where its diff run starts in the output and ends
    // in the base (its diff bytes are written when it is complete: prediction works per entry)
    let pend: { diff: number; extra: number; oldEnd: number; outStart: number } | undefined;
    const flush = (nextOld: number) => {
      if (!pend) {
        if (nextOld !== oldPos) ctrl.varint(0), ctrl.varint(0), ctrl.varint(zigzag(nextOld - oldPos));
      } else {
        diffRun(diff, dn, newImg, pend.outStart, oldImg, pend.oldEnd - pend.diff, pend.diff, model);
        dn += pend.diff;
        ctrl.varint(pend.diff);
        ctrl.varint(pend.extra);
        ctrl.varint(zigzag(nextOld - pend.oldEnd));
      }
      oldPos = nextOld;
      pend = undefined;
    };
    let pos = cs;
    while (pos < ce) {
      while (mi < matches.length && matches[mi]!.newStart + matches[mi]!.len <= pos) mi++;
      const m = matches[mi];
      if (m && m.newStart <= pos) {
        const end = Math.min(ce, m.newStart + m.len);
        const o = m.oldStart + (pos - m.newStart);
        if (pend && pend.extra === 0 && pend.oldEnd === o) {
          pend.diff += end - pos;
          pend.oldEnd += end - pos;
        } else {
          if (pend || o !== oldPos) flush(o);
          pend = { diff: end - pos, extra: 0, oldEnd: o + end - pos, outStart: pos };
        }
        pos = end;
      } else {
        const end = Math.min(ce, m ? m.newStart : ce);
        extra.set(newImg.subarray(pos, end), xn);
        xn += end - pos;
        if (pend) pend.extra += end - pos;
        else pend = { diff: 0, extra: end - pos, oldEnd: oldPos, outStart: pos };
        pos = end;
      }
    }
    if (pend) flush(pend.oldEnd);
    chunks.push({ outputOffset: cs, outputLength: ce - cs, control: ctrl.bytes(), diff: diff.subarray(0, dn), extra: extra.subarray(0, xn) });
  }
  return chunks;
}
