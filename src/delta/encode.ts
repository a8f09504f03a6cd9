/**
 * furrow patch encoder: matches → per-chunk control/diff/extra streams (FORMAT.md section 5) →
 * raw LZMA1 (xz) → header + chunk table + bodies.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';
import { bsdiffMatches } from './bsdiff.ts';
import { bodyLen, type ChunkEntry, type CoderParams, MAX_CHUNK_SIZE, MAX_RESULT_SIZE, MIN_CHUNK_SIZE, writeHeaderAndTable } from './format.ts';
import type { Match } from './matches.ts';
import { lzma1Compress } from './xz.ts';

export const DEFAULT_CHUNK_SIZE = 256 * 1024;
export const DEFAULT_CODERS: [CoderParams, CoderParams, CoderParams] = [
  { lc: 0, lp: 0, pb: 0, dictSize: 4096, transform: 0 },
  { lc: 0, lp: 0, pb: 0, dictSize: 16384, transform: 0 },
  { lc: 0, lp: 0, pb: 0, dictSize: 16384, transform: 0 },
];

export interface EncodeOptions {
  chunkSize?: number;
  coders?: [CoderParams, CoderParams, CoderParams];
  /** Called after each compressed stream with (done, total) stream counts. */
  onProgress?: (done: number, total: number) => void;
  /** Parallel xz processes (default 2: the Pi has few cores and serves traffic meanwhile). */
  concurrency?: number;
}

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

/** Splits the delta into chunks of `chunkSize` output bytes and builds each chunk's three raw streams. */
export function planChunks(oldImg: Uint8Array, newImg: Uint8Array, matches: Match[], chunkSize: number): RawChunk[] {
  const chunks: RawChunk[] = [];
  let mi = 0;
  for (let cs = 0; cs < newImg.length; cs += chunkSize) {
    const ce = Math.min(newImg.length, cs + chunkSize);
    const ctrl = new ByteWriter();
    const diff = new ByteWriter();
    const extra = new ByteWriter();
    let oldPos = 0;
    // the entry being built: its diff/extra lengths and where its diff run ends in the base
    let pend: { diff: number; extra: number; oldEnd: number } | undefined;
    const flush = (nextOld: number) => {
      if (!pend) {
        if (nextOld !== oldPos) ctrl.varint(0), ctrl.varint(0), ctrl.varint(zigzag(nextOld - oldPos));
      } else {
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
        for (let i = pos, j = o; i < end; i++, j++) diff.byte((newImg[i]! - oldImg[j]!) & 0xff);
        if (pend && pend.extra === 0 && pend.oldEnd === o) {
          pend.diff += end - pos;
          pend.oldEnd += end - pos;
        } else {
          if (pend || o !== oldPos) flush(o);
          pend = { diff: end - pos, extra: 0, oldEnd: o + end - pos };
        }
        pos = end;
      } else {
        const end = Math.min(ce, m ? m.newStart : ce);
        for (let i = pos; i < end; i++) extra.byte(newImg[i]!);
        if (pend) pend.extra += end - pos;
        else pend = { diff: 0, extra: end - pos, oldEnd: oldPos };
        pos = end;
      }
    }
    if (pend) flush(pend.oldEnd);
    chunks.push({ outputOffset: cs, outputLength: ce - cs, control: ctrl.bytes(), diff: diff.bytes(), extra: extra.bytes() });
  }
  return chunks;
}

async function pool<T>(tasks: Array<() => Promise<T>>, concurrency: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
  return results;
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function checkSizes(oldImg: Uint8Array, newImg: Uint8Array, chunkSize: number): void {
  if (newImg.length < 1 || newImg.length > MAX_RESULT_SIZE) throw new InputError('DELTA_BAD_SIZE', `new image has ${newImg.length} bytes; furrow patches carry 1..${MAX_RESULT_SIZE}`);
  if (oldImg.length > 0xffffffff) throw new InputError('DELTA_BAD_SIZE', `base image has ${oldImg.length} bytes, more than 4 GiB`);
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new InputError('DELTA_BAD_CHUNK_SIZE', `chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  }
}

/** Builds a furrow patch from given matches (an empty base makes a full-image patch). */
export async function buildPatch(oldImg: Uint8Array, newImg: Uint8Array, matches: Match[], opts: EncodeOptions = {}): Promise<Buffer> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const coders = opts.coders ?? DEFAULT_CODERS;
  checkSizes(oldImg, newImg, chunkSize);
  const raw = planChunks(oldImg, newImg, oldImg.length === 0 ? [] : matches, chunkSize);
  const tasks = raw.flatMap((c) => [c.control, c.diff, c.extra].map((s, i) => ({ s, p: coders[i]! })));
  let done = 0;
  const compressed = await pool(
    tasks.map(({ s, p }) => async () => {
      const out = await lzma1Compress(s, p);
      opts.onProgress?.(++done, tasks.length);
      return out;
    }),
    opts.concurrency ?? 2,
  );
  const entries: ChunkEntry[] = [];
  const bodies: Buffer[] = [];
  raw.forEach((c, i) => {
    const [cc, dc, xc] = compressed.slice(3 * i, 3 * i + 3) as [Buffer, Buffer, Buffer];
    const body = Buffer.concat([cc, dc, xc]);
    bodies.push(body);
    entries.push({
      outputOffset: c.outputOffset,
      outputLength: c.outputLength,
      controlRawLen: c.control.length,
      diffRawLen: c.diff.length,
      controlCompLen: cc.length,
      diffCompLen: dc.length,
      extraCompLen: xc.length,
      bodySha256: sha256Hex(body),
    });
  });
  const { bytes } = writeHeaderAndTable(
    {
      baseSize: oldImg.length,
      baseSha256: oldImg.length === 0 ? '0'.repeat(64) : sha256Hex(oldImg),
      resultSize: newImg.length,
      resultSha256: sha256Hex(newImg),
      chunkSize,
      maxBodyLen: Math.max(...entries.map(bodyLen)),
      coders,
    },
    entries,
  );
  return Buffer.concat([bytes, ...bodies]);
}

/** Diffs `oldImg` → `newImg` (bsdiff matching) and encodes a furrow patch. */
export async function encodePatch(oldImg: Uint8Array, newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
  const matches = oldImg.length > 0 && newImg.length > 0 ? await bsdiffMatches(oldImg, newImg) : [];
  return buildPatch(oldImg, newImg, matches, opts);
}

/** The full image as a furrow patch (base size 0): the device's one decoder handles both cases. */
export function encodeFullImage(newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
  return buildPatch(new Uint8Array(0), newImg, [], opts);
}
