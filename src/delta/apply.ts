/**
 * Reference applier for furrow patch v1 and v2, written from FORMAT.md only. Streaming and resumable at chunk
 * boundaries: bytes are pushed as they arrive, every completed chunk is verified (body digest) before
 * it is decoded, and its output is handed out in order. Used by tests, the bench and the simulator.
 */
import { createHash } from 'node:crypto';
import { PatchError } from './errors.ts';
import {
  bodiesStart,
  bodyLen,
  type ChunkEntry,
  expectedPatchSize,
  extraRawLen,
  HEADER_SIZE,
  parseChunkTable,
  parsePatchHeader,
  type PatchHeader,
  STREAM_NAMES,
  TRANSFORM_POINTERS,
} from './format.ts';
import { decodeLzma1, LzmaError } from './lzma-decoder.ts';
import { PointerModel, undiffRun } from './pointers.ts';

export interface ChunkOutput {
  index: number;
  offset: number;
  data: Uint8Array;
}

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function decodeStream(h: PatchHeader, e: ChunkEntry, chunk: number, s: 0 | 1 | 2, body: Uint8Array, start: number, compLen: number, rawLen: number): Uint8Array {
  try {
    return decodeLzma1(body, start, compLen, rawLen, h.coders[s]);
  } catch (err) {
    if (err instanceof LzmaError) throw new PatchError(err.kind, `${STREAM_NAMES[s]} stream: ${err.message}`, { chunk, cause: err });
    throw err;
  }
}

/**
 * Decodes one chunk body into its output range (FORMAT.md section 5). `base` is the whole base image
 * (empty for a full-image patch). Throws PatchError naming the chunk on any inconsistency.
 */
export function applyChunk(h: PatchHeader, e: ChunkEntry, chunk: number, body: Uint8Array, base: Uint8Array): Uint8Array {
  if (body.length !== bodyLen(e)) throw new PatchError('SIZE_MISMATCH', `body has ${body.length} bytes, table says ${bodyLen(e)}`, { chunk });
  const digest = sha256Hex(body);
  if (digest !== e.bodySha256) throw new PatchError('CHUNK_DIGEST_MISMATCH', `body SHA-256 ${digest.slice(0, 16)}… differs from the table's ${e.bodySha256.slice(0, 16)}…`, { chunk });
  const ctrl = decodeStream(h, e, chunk, 0, body, 0, e.controlCompLen, e.controlRawLen);
  const diff = decodeStream(h, e, chunk, 1, body, e.controlCompLen, e.diffCompLen, e.diffRawLen);
  const extra = decodeStream(h, e, chunk, 2, body, e.controlCompLen + e.diffCompLen, e.extraCompLen, extraRawLen(e));

  const out = new Uint8Array(e.outputLength);
  // section 5.2: a fresh model per chunk, so a chunk needs nothing from the ones before it
  const model = h.coders[1].transform === TRANSFORM_POINTERS ? new PointerModel(h.pointerWindows) : undefined;
  let cp = 0;
  const varint = (field: string): number => {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      if (cp >= ctrl.length) throw new PatchError('CONTROL_TRUNCATED', `control stream ends inside ${field}`, { chunk });
      const byte = ctrl[cp++]!;
      if (i === 4 && byte > 0x0f) throw new PatchError('BAD_VARINT', `control ${field} varint exceeds 32 bits at control byte ${cp - 1}`, { chunk });
      v += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return v;
    }
    throw new PatchError('BAD_VARINT', `control ${field} varint is longer than 5 bytes at control byte ${cp - 1}`, { chunk });
  };
  let oldPos = 0;
  let op = 0;
  let dp = 0;
  let xp = 0;
  while (op < e.outputLength) {
    const entryAt = cp;
    const diffLen = varint('diff_len');
    const extraLen = varint('extra_len');
    const z = varint('seek');
    const seek = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    const bad = (msg: string) => new PatchError('BAD_CONTROL', `control entry at control byte ${entryAt}: ${msg}`, { chunk });
    if (diffLen === 0 && extraLen === 0 && seek === 0) throw bad('empty entry (0, 0, 0)');
    if (op + diffLen + extraLen > e.outputLength) throw bad(`diff_len ${diffLen} + extra_len ${extraLen} runs past the chunk's ${e.outputLength} output bytes`);
    if (oldPos + diffLen > base.length) throw bad(`diff reads base bytes ${oldPos}..${oldPos + diffLen} beyond base_size ${base.length}`);
    if (dp + diffLen > diff.length) throw new PatchError('STREAM_LENGTH_MISMATCH', `diff stream has ${diff.length} bytes, control needs more`, { chunk });
    if (xp + extraLen > extra.length) throw new PatchError('STREAM_LENGTH_MISMATCH', `extra stream has ${extra.length} bytes, control needs more`, { chunk });
    undiffRun(out, op, e.outputOffset + op, base, oldPos, diff, dp, diffLen, model);
    op += diffLen;
    oldPos += diffLen;
    dp += diffLen;
    out.set(extra.subarray(xp, xp + extraLen), op);
    op += extraLen;
    xp += extraLen;
    oldPos += seek;
    if (oldPos < 0 || oldPos > base.length) throw bad(`seek ${seek} moves the base position to ${oldPos}, outside 0..${base.length}`);
  }
  if (cp !== ctrl.length || dp !== diff.length || xp !== extra.length) {
    throw new PatchError('STREAM_LENGTH_MISMATCH', `streams not fully used: control ${cp}/${ctrl.length}, diff ${dp}/${diff.length}, extra ${xp}/${extra.length}`, { chunk });
  }
  return out;
}

export interface StreamingOptions {
  /** The base image; omit or pass an empty array for a full-image patch. */
  base?: Uint8Array;
  /** Resume: the first chunk still to apply. Bytes pushed after the header and table must then start at `bodyOffset(resumeAt)`. */
  resumeAt?: number;
}

/**
 * Push-style applier. Feed it the patch bytes in order (any split); it returns each chunk's output
 * as soon as that chunk's body is complete and verified. To resume, construct it with `resumeAt: k`,
 * push the header and table, then push the patch from `bodyOffset(k)` on.
 */
export class StreamingApplier {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private prefix: Buffer | undefined = Buffer.alloc(0);
  header: PatchHeader | undefined;
  entries: ChunkEntry[] | undefined;
  private next: number;
  private readonly base: Uint8Array;
  private readonly hash = createHash('sha256');
  private finished = false;

  constructor(opts: StreamingOptions = {}) {
    this.base = opts.base ?? new Uint8Array(0);
    this.next = opts.resumeAt ?? 0;
  }

  /** Patch offset where chunk `k`'s body starts (needs the table). */
  bodyOffset(k: number): number {
    if (!this.header || !this.entries) throw new Error('bodyOffset needs the header and chunk table first');
    let off = bodiesStart(this.header.chunkCount);
    for (let i = 0; i < k; i++) off += bodyLen(this.entries[i]!);
    return off;
  }

  get nextChunk(): number {
    return this.next;
  }

  push(bytes: Uint8Array): ChunkOutput[] {
    if (this.finished) {
      if (bytes.length === 0) return [];
      throw new PatchError('SIZE_MISMATCH', 'bytes pushed after the last chunk: the patch is longer than its table says');
    }
    const outs: ChunkOutput[] = [];
    let data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (this.prefix) {
      this.prefix = Buffer.concat([this.prefix, data]);
      data = Buffer.alloc(0);
      if (!this.header && this.prefix.length >= HEADER_SIZE) this.header = this.checkHeader(parsePatchHeader(this.prefix));
      if (!this.header) return outs;
      const start = bodiesStart(this.header.chunkCount);
      if (this.prefix.length < start) return outs;
      this.entries = parseChunkTable(this.header, this.prefix);
      if (this.next < 0 || this.next > this.header.chunkCount) throw new PatchError('BAD_CHUNK_COUNT', `resume chunk ${this.next} is outside 0..${this.header.chunkCount}`);
      data = this.prefix.subarray(start);
      this.prefix = undefined;
    }
    if (data.length > 0) {
      this.pending.push(data);
      this.pendingLen += data.length;
    }
    const entries = this.entries!;
    while (this.next < entries.length && this.pendingLen >= bodyLen(entries[this.next]!)) {
      const e = entries[this.next]!;
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const body = all.subarray(0, bodyLen(e));
      const rest = all.subarray(bodyLen(e));
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingLen = rest.length;
      const out = applyChunk(this.header!, e, this.next, body, this.base);
      outs.push({ index: this.next, offset: e.outputOffset, data: out });
      this.next++;
    }
    if (this.next === entries.length) {
      this.finished = true;
      if (this.pendingLen > 0) throw new PatchError('SIZE_MISMATCH', `${this.pendingLen} bytes after the last chunk: the patch is longer than its table says`);
    }
    return outs;
  }

  /** Call after the last byte: throws unless every chunk was applied. */
  end(): void {
    if (!this.header || !this.entries) throw new PatchError('SIZE_MISMATCH', 'patch ends before its header and chunk table are complete');
    if (this.next < this.entries.length) {
      throw new PatchError('SIZE_MISMATCH', `patch ends inside chunk ${this.next} (${this.pendingLen} of ${bodyLen(this.entries[this.next]!)} body bytes)`, { chunk: this.next });
    }
  }

  private checkHeader(h: PatchHeader): PatchHeader {
    if (h.baseSize !== this.base.length) {
      throw new PatchError('BASE_MISMATCH', `patch needs a base of ${h.baseSize} bytes, the given base has ${this.base.length}`, {
        hint: 'this patch was built for another image: fetch the patch for the image the device runs',
      });
    }
    if (h.baseSize > 0) {
      const got = sha256Hex(this.base);
      if (got !== h.baseSha256) {
        throw new PatchError('BASE_MISMATCH', `patch base SHA-256 is ${h.baseSha256.slice(0, 16)}…, the given base is ${got.slice(0, 16)}…`, {
          hint: 'this patch was built for another image: fetch the patch for the image the device runs',
        });
      }
    }
    return h;
  }

  /** Feeds the result digest (used by applyPatch, which sees every output byte). */
  updateResultHash(b: Uint8Array): void {
    this.hash.update(b);
  }

  resultDigest(): string {
    return this.hash.digest('hex');
  }
}

/** Applies a whole patch in memory and checks size, layout and result digest. */
export function applyPatch(base: Uint8Array, patch: Uint8Array): Buffer {
  const header = parsePatchHeader(patch);
  const applier = new StreamingApplier({ base });
  const outs: Uint8Array[] = [];
  const head = bodiesStart(header.chunkCount);
  if (patch.length >= head) {
    const entries = parseChunkTable(header, patch);
    const expected = expectedPatchSize(header, entries);
    if (patch.length !== expected) {
      const chunk = patch.length < expected ? firstIncomplete(entries, patch.length - head) : undefined;
      throw new PatchError('SIZE_MISMATCH', `patch has ${patch.length} bytes, its table describes ${expected}${patch.length < expected ? ' (truncated)' : ' (trailing bytes)'}`, chunk === undefined ? {} : { chunk });
    }
  }
  for (const o of applier.push(patch)) {
    applier.updateResultHash(o.data);
    outs.push(o.data);
  }
  applier.end();
  const digest = applier.resultDigest();
  if (digest !== header.resultSha256) throw new PatchError('RESULT_DIGEST_MISMATCH', `result SHA-256 ${digest.slice(0, 16)}… differs from the header's ${header.resultSha256.slice(0, 16)}…`);
  return Buffer.concat(outs);
}

function firstIncomplete(entries: ChunkEntry[], bodyBytes: number): number {
  let acc = 0;
  for (let i = 0; i < entries.length; i++) {
    acc += bodyLen(entries[i]!);
    if (acc > bodyBytes) return i;
  }
  return entries.length - 1;
}
