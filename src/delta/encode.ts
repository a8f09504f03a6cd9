/**
 * furrow patch encoder: matches → per-chunk control/diff/extra streams (FORMAT.md section 5) →
 * raw LZMA1 (xz) → header + chunk table + bodies.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';
import { bsdiffMatches } from './bsdiff.ts';
import { bodyLen, type ChunkEntry, type CoderParams, MAX_CHUNK_SIZE, MAX_RESULT_SIZE, MIN_CHUNK_SIZE, TRANSFORM_POINTERS, writeHeaderAndTable } from './format.ts';
import { dropRepeatedIslands, shortMatchCandidates, splitMismatchStreaks, type Match } from './matches.ts';
import { hasWindows, NO_WINDOWS, pointerWindows, type PointerWindows } from './pointers.ts';
import { buildChunkStreams, type RawChunk } from './streams.ts';
import { type XzTuning, xzBatch } from './xz.ts';

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
const XZ_TUNING: XzTuning[] = [{}, {}, { nice: 64, mf: 'bt2' }];
/** Fast settings that only rank candidate streams against each other (see chooseCandidates). */
const RANKING_TUNING: XzTuning = { preset: '3' };

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
  /** Called after each compressed stream with (done, total) stream counts: ranking and final compressions of the current attempt. */
  onProgress?: (done: number, total: number) => void;
  /** Parallel xz processes (default 2: the Pi has few cores and serves traffic meanwhile). */
  concurrency?: number;
  /**
   * Highest patch format the devices decode (default 2). Version 2 adds pointer prediction
   * (FORMAT.md 5.2); with 1, or when the base has no pointer windows, a v1 patch is written.
   */
  formatVersion?: 1 | 2;
  /** Pointer windows to use instead of those read from the base image's segment table (tests). */
  pointerWindows?: PointerWindows;
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
function sizeChunks(oldImg: Uint8Array, newImg: Uint8Array, ms: Match[], chunkSize: number, budget: number, windows: PointerWindows): number[] {
  // A unit must itself fit in `chunkSize`: a one-unit chunk is never split further here.
  const unit = Math.min(UNIT, chunkSize);
  const unitEnds: number[] = [];
  for (let e = unit; e < newImg.length; e += unit) unitEnds.push(e);
  unitEnds.push(newImg.length);
  const units = buildChunkStreams(oldImg, newImg, ms, unitEnds, windows);
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

/** Counts compressed streams over both phases of an attempt (ranking, then final). */
interface Progress {
  done: number;
  total: number;
  report?: (done: number, total: number) => void;
}

async function compressAll(raw: RawChunk[], coders: [CoderParams, CoderParams, CoderParams], tuning: XzTuning[], concurrency: number, progress: Progress): Promise<Buffer[]> {
  const jobs = raw.flatMap((c) => [c.control, c.diff, c.extra].map((data, i) => ({ data, params: coders[i]!, tuning: tuning[i]! })));
  return xzBatch(jobs, concurrency, () => progress.report?.(++progress.done, progress.total));
}

/**
 * For each chunk, the candidate match list whose streams compress smallest, ranked with a fast xz
 * preset (about 15x faster than 9e on the diff stream). On the corpus its picks come within 15 bytes
 * per patch of the picks a full 9e comparison makes. Candidates that give a chunk the same control
 * stream give it the same streams, so each distinct one is compressed once.
 */
async function chooseCandidates(perCandidate: RawChunk[][], coders: [CoderParams, CoderParams, CoderParams], concurrency: number, progress: Progress): Promise<RawChunk[]> {
  const chunks = perCandidate[0]!.length;
  const distinct: Array<{ chunk: number; raw: RawChunk }> = [];
  for (let k = 0; k < chunks; k++) {
    const seen: Uint8Array[] = [];
    for (const cand of perCandidate) {
      const c = cand[k]!;
      if (seen.some((ctrl) => Buffer.compare(ctrl, c.control) === 0)) continue;
      seen.push(c.control);
      distinct.push({ chunk: k, raw: c });
    }
  }
  if (distinct.length === chunks) return perCandidate[0]!;
  progress.total += distinct.length;
  // one xz process per candidate chunk, its three streams one after another (with the diff stream's
  // parameters: the ranking needs only comparable totals)
  const jobs = distinct.map((d) => ({ data: [d.raw.control, d.raw.diff, d.raw.extra], params: coders[1], tuning: RANKING_TUNING }));
  const sizes = await xzBatch(jobs, concurrency, () => progress.report?.(++progress.done, progress.total));
  const best: Array<{ raw: RawChunk; size: number }> = [];
  distinct.forEach((d, i) => {
    const size = sizes[i]!.length;
    const cur = best[d.chunk];
    if (!cur || size < cur.size) best[d.chunk] = { raw: d.raw, size };
  });
  return best.map((b) => b.raw);
}

/**
 * Builds a furrow patch from candidate match lists (an empty base makes a full-image patch). Each chunk
 * uses the candidate that compresses best there; `candidates[0]` sizes the chunks.
 */
export async function buildPatch(oldImg: Uint8Array, newImg: Uint8Array, candidates: Match[][], opts: EncodeOptions = {}): Promise<Buffer> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const windows = oldImg.length === 0 || opts.formatVersion === 1 ? NO_WINDOWS : (opts.pointerWindows ?? pointerWindows(oldImg));
  const given = opts.coders ?? DEFAULT_CODERS;
  const coders: [CoderParams, CoderParams, CoderParams] = [given[0], { ...given[1], transform: hasWindows(windows) ? TRANSFORM_POINTERS : 0 }, given[2]];
  const concurrency = opts.concurrency ?? 2;
  checkSizes(oldImg, newImg, chunkSize);
  const budget = opts.maxBodyLen ?? DEFAULT_MAX_BODY;
  const cands = oldImg.length === 0 || candidates.length === 0 ? [[]] : candidates;
  let ends = sizeChunks(oldImg, newImg, cands[0]!, chunkSize, budget, windows);
  let raw: RawChunk[] = [];
  let compressed: Buffer[] = [];
  // Estimates can be low: a chunk whose body outgrows the budget is split and compressed again.
  for (let attempt = 0; ; attempt++) {
    const progress: Progress = { done: 0, total: 3 * ends.length, report: opts.onProgress };
    raw = await chooseCandidates(
      cands.map((ms) => buildChunkStreams(oldImg, newImg, ms, ends, windows)),
      coders,
      concurrency,
      progress,
    );
    compressed = await compressAll(raw, coders, XZ_TUNING, concurrency, progress);
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
      pointerWindows: hasWindows(windows) ? windows : NO_WINDOWS,
    },
    entries,
  );
  return Buffer.concat([bytes, ...bodies]);
}

/** Diffs `oldImg` → `newImg` (bsdiff matching) and encodes a furrow patch. */
export async function encodePatch(oldImg: Uint8Array, newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
  if (oldImg.length === 0 || newImg.length === 0) return buildPatch(oldImg, newImg, [], opts);
  const matches = dropRepeatedIslands(splitMismatchStreaks(await bsdiffMatches(oldImg, newImg), oldImg, newImg), newImg);
  return buildPatch(oldImg, newImg, shortMatchCandidates(matches), opts);
}

/** The full image as a furrow patch (base size 0): the device's one decoder handles both cases. */
export function encodeFullImage(newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
  return buildPatch(new Uint8Array(0), newImg, [], opts);
}
