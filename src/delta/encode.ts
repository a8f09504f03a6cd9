/**
 * furrow patch encoder: matches → per-chunk control/diff/extra streams (FORMAT.md section 5) →
 * raw LZMA1 (xz) → header + chunk table + bodies.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';
import { bsdiffMatches } from './bsdiff.ts';
import { bodyLen, type ChunkEntry, type CoderParams, MAX_CHUNK_SIZE, MAX_RESULT_SIZE, MIN_CHUNK_SIZE, writeHeaderAndTable } from './format.ts';
import { dropRepeatedIslands, splitMismatchStreaks, type Match } from './matches.ts';
import { lzma1Compress, type XzTuning } from './xz.ts';

/** Upper bound of one chunk's output (header `chunk_size`). */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Staging budget: the encoder keeps every chunk body at or under this (header `max_body_len`). */
export const DEFAULT_MAX_BODY = 64 * 1024;
/** Granularity of chunk boundaries when the encoder sizes chunks to the staging budget. */
const UNIT = 16 * 1024;
export const DEFAULT_CODERS: [CoderParams, CoderParams, CoderParams] = [
  { lc: 0, lp: 0, pb: 0, dictSize: 4096, transform: 0 },
  { lc: 0, lp: 0, pb: 0, dictSize: 16384, transform: 0 },
  { lc: 0, lp: 0, pb: 0, dictSize: 16384, transform: 0 },
];

/**
 * xz search settings per stream (control, diff, extra). The extra stream (new code and data, few long
 * repeats) compresses better with short `nice` and the bt2 match finder: −0.2 % of that stream on
 * every corpus pair. The diff stream needs the full preset 9e search (nice 64 there: +6 %).
 */
const XZ_TUNING: [XzTuning, XzTuning, XzTuning] = [{}, {}, { nice: 64, mf: 'bt2' }];

export interface EncodeOptions {
  /** Largest output of one chunk (default 1 MiB). */
  chunkSize?: number;
  /**
   * Staging budget for one chunk body (default 64 KiB): chunks are cut where the compressed body would
   * outgrow it, so small deltas get few big chunks (each chunk restarts its coders, which costs bytes)
   * while a full image still stages in a small flash area.
   */
  maxBodyLen?: number;
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
  const ends: number[] = [];
  for (let cs = chunkSize; cs < newImg.length; cs += chunkSize) ends.push(cs);
  ends.push(newImg.length);
  return buildChunkStreams(oldImg, newImg, matches, ends);
}

/** Builds the three raw streams of each chunk; chunk i covers output `[ends[i-1] ?? 0, ends[i])`. */
export function buildChunkStreams(oldImg: Uint8Array, newImg: Uint8Array, matches: Match[], ends: number[]): RawChunk[] {
  const chunks: RawChunk[] = [];
  let mi = 0;
  for (let k = 0; k < ends.length; k++) {
    const cs = k === 0 ? 0 : ends[k - 1]!;
    const ce = ends[k]!;
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

/**
 * Chooses chunk ends: whole UNITs are added to a chunk while its estimated body stays within 90 % of the
 * budget and its output within `chunkSize`. The estimate (about 0.75 byte per extra byte, per nonzero
 * diff byte and per control byte) is only a guide; buildPatch splits any chunk that comes out too big.
 */
function sizeChunks(oldImg: Uint8Array, newImg: Uint8Array, ms: Match[], chunkSize: number, budget: number): number[] {
  // A unit must itself fit in `chunkSize`: a one-unit chunk is never split further here.
  const unit = Math.min(UNIT, chunkSize);
  const unitEnds: number[] = [];
  for (let e = unit; e < newImg.length; e += unit) unitEnds.push(e);
  unitEnds.push(newImg.length);
  const units = buildChunkStreams(oldImg, newImg, ms, unitEnds);
  const ends: number[] = [];
  let est = 0;
  let start = 0;
  units.forEach((u, i) => {
    let nz = 0;
    for (const b of u.diff) if (b !== 0) nz++;
    const e = 0.8 * (u.extra.length + nz + u.control.length) + 16;
    const end = unitEnds[i]!;
    if (end > start + unit && (est + e > 0.9 * budget || end - start > chunkSize)) {
      ends.push(unitEnds[i - 1]!);
      start = unitEnds[i - 1]!;
      est = 0;
    }
    est += e;
  });
  ends.push(newImg.length);
  return ends;
}

async function compressAll(raw: RawChunk[], coders: [CoderParams, CoderParams, CoderParams], opts: EncodeOptions): Promise<Buffer[]> {
  const tasks = raw.flatMap((c) => [c.control, c.diff, c.extra].map((s, i) => ({ s, p: coders[i]!, t: XZ_TUNING[i]! })));
  let done = 0;
  return pool(
    tasks.map(({ s, p, t }) => async () => {
      const out = await lzma1Compress(s, p, t);
      opts.onProgress?.(++done, tasks.length);
      return out;
    }),
    opts.concurrency ?? 2,
  );
}

/** Builds a furrow patch from given matches (an empty base makes a full-image patch). */
export async function buildPatch(oldImg: Uint8Array, newImg: Uint8Array, matches: Match[], opts: EncodeOptions = {}): Promise<Buffer> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const coders = opts.coders ?? DEFAULT_CODERS;
  checkSizes(oldImg, newImg, chunkSize);
  const budget = opts.maxBodyLen ?? DEFAULT_MAX_BODY;
  const ms = oldImg.length === 0 ? [] : matches;
  let ends = sizeChunks(oldImg, newImg, ms, chunkSize, budget);
  let raw: RawChunk[] = [];
  let compressed: Buffer[] = [];
  // Estimates can be low: a chunk whose body outgrows the budget is split and compressed again.
  for (let attempt = 0; ; attempt++) {
    raw = buildChunkStreams(oldImg, newImg, ms, ends);
    compressed = await compressAll(raw, coders, opts);
    const over = raw.map((_, i) => i).filter((i) => compressed.slice(3 * i, 3 * i + 3).reduce((n, b) => n + b.length, 0) > budget);
    if (over.length === 0) break;
    const splittable = over.filter((i) => raw[i]!.outputLength >= 2 * MIN_CHUNK_SIZE);
    if (splittable.length === 0 || attempt > 8) {
      throw new InputError('DELTA_BODY_TOO_BIG', `a chunk body exceeds the staging budget of ${budget} bytes even at the smallest chunk size`, {
        hint: 'raise the staging budget (maxBodyLen)',
      });
    }
    const next: number[] = [];
    ends.forEach((e, i) => {
      if (splittable.includes(i)) {
        const start = i === 0 ? 0 : ends[i - 1]!;
        next.push(start + Math.max(MIN_CHUNK_SIZE, Math.floor((e - start) / 2 / MIN_CHUNK_SIZE) * MIN_CHUNK_SIZE));
      }
      next.push(e);
    });
    ends = next;
  }
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
  const matches = oldImg.length > 0 && newImg.length > 0 ? dropRepeatedIslands(splitMismatchStreaks(await bsdiffMatches(oldImg, newImg), oldImg, newImg), newImg) : [];
  return buildPatch(oldImg, newImg, matches, opts);
}

/** The full image as a furrow patch (base size 0): the device's one decoder handles both cases. */
export function encodeFullImage(newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
  return buildPatch(new Uint8Array(0), newImg, [], opts);
}
