/**
 * detools "sequential" patches (github.com/eerimoq/detools; the layout below is what its C library,
 * c/detools.c, reads): the format Espressif's esp_delta_ota applies.
 *
 *   byte 0        patch type << 4 | compression   (type 0 = sequential; compression 0 none, 4 heatshrink)
 *   to-size       size of the new image, packed size (below)
 *   [heatshrink]  one byte (window_bits - 4) << 4 | (lookahead_bits - 3), then the compressed stream
 *   stream        dfpatch size (0), then until the new image is complete:
 *                   diff size, diff bytes (new - base, byte-wise mod 256), extra size, extra bytes,
 *                   adjustment (signed: base seek after the diff)
 *
 * Packed size: first byte bit 7 = more follows, bit 6 = negative, bits 0-5 = lowest 6 bits of |v|;
 * each further byte bit 7 = more follows, bits 0-6 = next 7 bits.
 */
import type { Match } from '../matches.ts';
import { ESP_DELTA_OTA_HEATSHRINK, heatshrinkEncode, type HeatshrinkParams } from './heatshrink.ts';

export type DetoolsCompression = { kind: 'none' } | ({ kind: 'heatshrink' } & HeatshrinkParams);

export const DETOOLS_COMPRESSION_NONE = 0;
export const DETOOLS_COMPRESSION_HEATSHRINK = 4;
export const DETOOLS_PATCH_SEQUENTIAL = 0;

export function packSize(v: number): number[] {
  let a = Math.abs(v);
  const out = [(v < 0 ? 0x40 : 0) | (a & 0x3f)];
  a = Math.floor(a / 64);
  while (a > 0) {
    out[out.length - 1]! |= 0x80;
    out.push(a & 0x7f);
    a = Math.floor(a / 128);
  }
  return out;
}

export interface Triple {
  /** Where the diff run starts in the new and in the base image. */
  diffNew: number;
  diffOld: number;
  diff: number;
  extra: number;
  /** Base seek after the diff run: the next run's base start minus where this one ended. */
  adjust: number;
}

/** bsdiff-style (diff, extra, adjustment) triples covering the new image from sorted, non-overlapping matches. */
export function matchesToTriples(matches: readonly Match[], newSize: number): Triple[] {
  const ms = matches.filter((m) => m.len > 0);
  const out: Triple[] = [];
  // A new image that starts with new bytes: an empty diff, those bytes as extra, then seek to the first match.
  const first = ms[0];
  if (!first || first.newStart > 0) out.push({ diffNew: 0, diffOld: 0, diff: 0, extra: first ? first.newStart : newSize, adjust: first ? first.oldStart : 0 });
  ms.forEach((m, i) => {
    const next = ms[i + 1];
    const end = m.newStart + m.len;
    out.push({ diffNew: m.newStart, diffOld: m.oldStart, diff: m.len, extra: (next ? next.newStart : newSize) - end, adjust: next ? next.oldStart - (m.oldStart + m.len) : 0 });
  });
  return out;
}

/** The uncompressed stream after the header: dfpatch size 0, then the triples with their bytes. */
export function sequentialStream(base: Uint8Array, next: Uint8Array, matches: readonly Match[]): Buffer {
  const parts: Buffer[] = [Buffer.from(packSize(0))];
  for (const t of matchesToTriples(matches, next.length)) {
    parts.push(Buffer.from(packSize(t.diff)));
    const d = Buffer.allocUnsafe(t.diff);
    for (let i = 0; i < t.diff; i++) d[i] = (next[t.diffNew + i]! - base[t.diffOld + i]!) & 0xff;
    parts.push(d, Buffer.from(packSize(t.extra)), Buffer.from(next.subarray(t.diffNew + t.diff, t.diffNew + t.diff + t.extra)), Buffer.from(packSize(t.adjust)));
  }
  return Buffer.concat(parts);
}

/** A whole detools sequential patch from matches (any matcher; bsdiff in the daemon). */
export function encodeDetoolsPatch(base: Uint8Array, next: Uint8Array, matches: readonly Match[], compression: DetoolsCompression = { kind: 'heatshrink', ...ESP_DELTA_OTA_HEATSHRINK }): Buffer {
  const code = compression.kind === 'none' ? DETOOLS_COMPRESSION_NONE : DETOOLS_COMPRESSION_HEATSHRINK;
  const header = Buffer.from([(DETOOLS_PATCH_SEQUENTIAL << 4) | code, ...packSize(next.length)]);
  // An empty new image is done after its size: detools refuses any byte after it as a corrupt patch.
  if (next.length === 0) return header;
  const stream = sequentialStream(base, next, matches);
  if (compression.kind === 'none') return Buffer.concat([header, stream]);
  const hs = Buffer.from([((compression.windowBits - 4) << 4) | (compression.lookaheadBits - 3)]);
  return Buffer.concat([header, hs, heatshrinkEncode(stream, compression)]);
}
