/**
 * Byte layout of furrow patch v1 and v2 (FORMAT.md sections 3 and 4): constants, header and chunk table
 * writers and strict parsers. Every check names the FORMAT.md error and the field or chunk.
 */
import { createHash } from 'node:crypto';
import { PatchError } from './errors.ts';
import type { LzmaParams } from './lzma-decoder.ts';
import { NO_WINDOWS, type PointerWindows } from './pointers.ts';

export const MAGIC = Buffer.from('FRWP', 'ascii');
/** Highest version this code reads and writes; v1 patches (no pointer prediction) are read too. */
export const FORMAT_VERSION = 2;
/** Transform of the diff stream that predicts pointers (section 5.2, v2 only). */
export const TRANSFORM_POINTERS = 1;
export const HEADER_SIZE = 160;
export const ENTRY_SIZE = 60;
export const COMPRESSOR_LZMA1 = 1;
export const FLAG_FULL = 1;
export const MAX_RESULT_SIZE = 16 * 1024 * 1024;
export const MAX_CHUNK_COUNT = 4096;
export const MIN_CHUNK_SIZE = 4096;
export const MAX_CHUNK_SIZE = 1024 * 1024;
export const MAX_BODY_LEN = 2 * 1024 * 1024;
export const MIN_DICT = 4096;
export const MAX_DICT = 65536;
const TABLE_DIGEST_OFFSET = 128;

export const STREAM_NAMES = ['control', 'diff', 'extra'] as const;

export interface CoderParams extends LzmaParams {
  transform: number;
}

export interface PatchHeader {
  formatVersion: number;
  compressor: number;
  full: boolean;
  baseSize: number;
  baseSha256: string;
  resultSize: number;
  resultSha256: string;
  chunkCount: number;
  chunkSize: number;
  maxBodyLen: number;
  coders: [CoderParams, CoderParams, CoderParams];
  /** v2 `pointer_windows` (header offset 120); all zero in v1. */
  pointerWindows: PointerWindows;
  /** Hex SHA-256 over header[0..128) + chunk table: the manifest's "chunk table digest". */
  tableDigest: string;
}

export interface ChunkEntry {
  outputOffset: number;
  outputLength: number;
  controlRawLen: number;
  diffRawLen: number;
  controlCompLen: number;
  diffCompLen: number;
  extraCompLen: number;
  bodySha256: string;
}

export function bodyLen(e: ChunkEntry): number {
  return e.controlCompLen + e.diffCompLen + e.extraCompLen;
}

export function extraRawLen(e: ChunkEntry): number {
  return e.outputLength - e.diffRawLen;
}

/** Offset of the first chunk body. */
export function bodiesStart(chunkCount: number): number {
  return HEADER_SIZE + ENTRY_SIZE * chunkCount;
}

function hexOf(buf: Uint8Array, at: number): string {
  return Buffer.from(buf.subarray(at, at + 32)).toString('hex');
}

function writeCoder(b: Buffer, at: number, c: CoderParams): void {
  b.writeUInt8(c.lc + 9 * (c.lp + 5 * c.pb), at);
  b.writeUInt8(c.transform, at + 1);
  b.writeUInt16LE(0, at + 2);
  b.writeUInt32LE(c.dictSize, at + 4);
}

function readCoder(b: Buffer, at: number, stream: string, formatVersion: number): CoderParams {
  const props = b.readUInt8(at);
  const transform = b.readUInt8(at + 1);
  const reserved = b.readUInt16LE(at + 2);
  const dictSize = b.readUInt32LE(at + 4);
  if (props >= 9 * 5 * 5) throw new PatchError('BAD_CODER', `header field coder[${stream}].props = ${props} is not a valid lc/lp/pb byte (must be < 225)`);
  const lc = props % 9;
  const lp = Math.floor(props / 9) % 5;
  const pb = Math.floor(props / 45);
  if (lc + lp > 4) throw new PatchError('BAD_CODER', `header field coder[${stream}]: lc + lp = ${lc + lp} exceeds 4`);
  if (transform !== 0 && !(transform === TRANSFORM_POINTERS && stream === 'diff' && formatVersion >= 2)) {
    const known = formatVersion >= 2 ? (stream === 'diff' ? '0 or 1' : 'only 0 for this stream') : 'only 0 in v1';
    throw new PatchError('UNSUPPORTED_TRANSFORM', `header field coder[${stream}].transform = ${transform}; version ${formatVersion} knows ${known}`);
  }
  if (reserved !== 0) throw new PatchError('BAD_RESERVED', `header field coder[${stream}].reserved = ${reserved}, must be 0`);
  if (dictSize < MIN_DICT || dictSize > MAX_DICT) {
    throw new PatchError('BAD_CODER', `header field coder[${stream}].dict_size = ${dictSize} is outside ${MIN_DICT}..${MAX_DICT}`);
  }
  return { lc, lp, pb, dictSize, transform };
}

/** Serialises header + chunk table and fills in the table digest. */
/**
 * Serialises header + chunk table and fills in the table digest. The version written is the lowest that
 * carries the fields: 1 unless pointer prediction is used, so a v1-only device can take every other patch.
 */
export function writeHeaderAndTable(
  h: Omit<PatchHeader, 'tableDigest' | 'formatVersion' | 'compressor' | 'full' | 'chunkCount' | 'pointerWindows'> & { pointerWindows?: PointerWindows },
  entries: ChunkEntry[],
): { bytes: Buffer; tableDigest: string } {
  const b = Buffer.alloc(HEADER_SIZE + ENTRY_SIZE * entries.length);
  const windows = h.pointerWindows ?? NO_WINDOWS;
  const v2 = h.coders.some((c) => c.transform !== 0) || windows.flat().some((x) => x !== 0);
  MAGIC.copy(b, 0);
  b.writeUInt16LE(v2 ? 2 : 1, 4);
  b.writeUInt16LE(HEADER_SIZE, 6);
  b.writeUInt8(COMPRESSOR_LZMA1, 8);
  b.writeUInt8(h.baseSize === 0 ? FLAG_FULL : 0, 9);
  b.writeUInt32LE(h.baseSize, 12);
  Buffer.from(h.baseSha256, 'hex').copy(b, 16);
  b.writeUInt32LE(h.resultSize, 48);
  Buffer.from(h.resultSha256, 'hex').copy(b, 52);
  b.writeUInt32LE(entries.length, 84);
  b.writeUInt32LE(h.chunkSize, 88);
  b.writeUInt32LE(h.maxBodyLen, 92);
  h.coders.forEach((c, i) => writeCoder(b, 96 + 8 * i, c));
  windows.flat().forEach((x, i) => b.writeUInt16LE(x, 120 + 2 * i));
  entries.forEach((e, i) => {
    const at = HEADER_SIZE + ENTRY_SIZE * i;
    b.writeUInt32LE(e.outputOffset, at);
    b.writeUInt32LE(e.outputLength, at + 4);
    b.writeUInt32LE(e.controlRawLen, at + 8);
    b.writeUInt32LE(e.diffRawLen, at + 12);
    b.writeUInt32LE(e.controlCompLen, at + 16);
    b.writeUInt32LE(e.diffCompLen, at + 20);
    b.writeUInt32LE(e.extraCompLen, at + 24);
    Buffer.from(e.bodySha256, 'hex').copy(b, at + 28);
  });
  const digest = tableDigestOf(b, entries.length);
  digest.copy(b, TABLE_DIGEST_OFFSET);
  return { bytes: b, tableDigest: digest.toString('hex') };
}

function tableDigestOf(b: Uint8Array, chunkCount: number): Buffer {
  return createHash('sha256')
    .update(b.subarray(0, TABLE_DIGEST_OFFSET))
    .update(b.subarray(HEADER_SIZE, HEADER_SIZE + ENTRY_SIZE * chunkCount))
    .digest();
}

/** Fields every reader of a patch needs, with no judgement on the coder and size fields. */
export type PatchLayout = Pick<PatchHeader, 'formatVersion' | 'full' | 'baseSize' | 'baseSha256' | 'resultSize' | 'resultSha256' | 'chunkCount' | 'tableDigest'>;

/** Magic, version and header size: what makes the rest of the header readable at all. */
function checkIdentity(b: Buffer): number {
  if (!b.subarray(0, 4).equals(MAGIC)) throw new PatchError('BAD_MAGIC', `header field magic is ${b.subarray(0, 4).toString('hex')}, expected 46525750 ("FRWP"): not a furrow patch`);
  const formatVersion = b.readUInt16LE(4);
  if (formatVersion < 1 || formatVersion > FORMAT_VERSION) {
    throw new PatchError('UNSUPPORTED_VERSION', `header field format_version = ${formatVersion}; this furrow reads versions 1..${FORMAT_VERSION}`, {
      hint: 'rebuild the patch with this gateway, or upgrade furrow',
    });
  }
  const headerSize = b.readUInt16LE(6);
  if (headerSize !== HEADER_SIZE) throw new PatchError('BAD_HEADER_SIZE', `header field header_size = ${headerSize}, version ${formatVersion} requires ${HEADER_SIZE}`);
  return formatVersion;
}

function checkChunkCount(b: Buffer): number {
  const chunkCount = b.readUInt32LE(84);
  if (chunkCount < 1 || chunkCount > MAX_CHUNK_COUNT) throw new PatchError('BAD_CHUNK_COUNT', `header field chunk_count = ${chunkCount} is outside 1..${MAX_CHUNK_COUNT}`);
  return chunkCount;
}

function headerView(input: Uint8Array): Buffer {
  if (input.length < HEADER_SIZE) throw new PatchError('SIZE_MISMATCH', `only ${input.length} bytes; the header alone is ${HEADER_SIZE}`);
  return Buffer.from(input.buffer, input.byteOffset, HEADER_SIZE);
}

/**
 * Structural read (FORMAT.md sections 2-3): identity, chunk count, and the chunk table digest
 * **recomputed** from header and table and compared with the stored one, so a damaged header or table
 * is never passed on (the delivery manifest signs this digest). Coder, size and flag fields are read
 * as they are: whoever decodes the patch checks them with `parsePatchHeader`/`parseChunkTable`.
 */
export function readPatchLayout(input: Uint8Array): PatchLayout {
  const b = headerView(input);
  const formatVersion = checkIdentity(b);
  const chunkCount = checkChunkCount(b);
  const need = bodiesStart(chunkCount);
  if (input.length < need) throw new PatchError('SIZE_MISMATCH', `only ${input.length} bytes; header and a chunk table of ${chunkCount} entries need ${need}`);
  const stored = hexOf(b, TABLE_DIGEST_OFFSET);
  const computed = tableDigestOf(input, chunkCount).toString('hex');
  if (computed !== stored) {
    throw new PatchError('TABLE_DIGEST_MISMATCH', `stored chunk table digest does not match the header and table (stored ${stored.slice(0, 16)}…, computed ${computed.slice(0, 16)}…)`);
  }
  return {
    formatVersion,
    full: (b.readUInt8(9) & FLAG_FULL) !== 0,
    baseSize: b.readUInt32LE(12),
    baseSha256: hexOf(b, 16),
    resultSize: b.readUInt32LE(48),
    resultSha256: hexOf(b, 52),
    chunkCount,
    tableDigest: stored,
  };
}

/**
 * Parses and checks every field of the 160-byte header (FORMAT.md section 3), as a decoder must.
 * Needs only the first 160 bytes, so a streaming receiver can call it early; the table digest is
 * checked by `parseChunkTable` once the table has arrived.
 */
export function parsePatchHeader(input: Uint8Array): PatchHeader {
  const b = headerView(input);
  const formatVersion = checkIdentity(b);
  const compressor = b.readUInt8(8);
  if (compressor !== COMPRESSOR_LZMA1) throw new PatchError('UNSUPPORTED_COMPRESSOR', `header field compressor = ${compressor}; v1 knows only 1 (raw LZMA1)`);
  const flags = b.readUInt8(9);
  if ((flags & ~FLAG_FULL) !== 0) throw new PatchError('BAD_FLAGS', `header field flags = 0x${flags.toString(16)} has unknown bits set`);
  if (b.readUInt16LE(10) !== 0) throw new PatchError('BAD_RESERVED', 'header field reserved0 is not 0');
  const baseSize = b.readUInt32LE(12);
  const full = (flags & FLAG_FULL) !== 0;
  if (full !== (baseSize === 0)) throw new PatchError('BAD_FLAGS', `header field flags.FULL = ${full} but base_size = ${baseSize}`);
  const baseSha256 = hexOf(b, 16);
  if (full && baseSha256 !== '0'.repeat(64)) throw new PatchError('BAD_FLAGS', 'header field base_sha256 must be all zero in a full-image patch');
  const resultSize = b.readUInt32LE(48);
  if (resultSize < 1 || resultSize > MAX_RESULT_SIZE) throw new PatchError('BAD_RESULT_SIZE', `header field result_size = ${resultSize} is outside 1..${MAX_RESULT_SIZE}`);
  const chunkCount = checkChunkCount(b);
  const chunkSize = b.readUInt32LE(88);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw new PatchError('BAD_CHUNK_SIZE', `header field chunk_size = ${chunkSize} is outside ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}`);
  const maxBodyLen = b.readUInt32LE(92);
  if (maxBodyLen > MAX_BODY_LEN) throw new PatchError('BAD_MAX_BODY', `header field max_body_len = ${maxBodyLen} exceeds ${MAX_BODY_LEN}`);
  const coders = [0, 1, 2].map((i) => readCoder(b, 96 + 8 * i, STREAM_NAMES[i]!, formatVersion)) as PatchHeader['coders'];
  const pointerWindows = readWindows(b, formatVersion, coders[1].transform);
  return {
    formatVersion,
    compressor,
    full,
    baseSize,
    baseSha256,
    resultSize,
    resultSha256: hexOf(b, 52),
    chunkCount,
    chunkSize,
    maxBodyLen,
    coders,
    pointerWindows,
    tableDigest: hexOf(b, TABLE_DIGEST_OFFSET),
  };
}

/** Header offset 120: `reserved1` (zero) in v1 and without transform 1, else two pointer windows (section 3). */
function readWindows(b: Buffer, formatVersion: number, diffTransform: number): PointerWindows {
  if (formatVersion < 2 || diffTransform !== TRANSFORM_POINTERS) {
    if (b.readBigUInt64LE(120) !== 0n) {
      const why = formatVersion < 2 ? 'reserved1 is not 0 (v1)' : 'pointer_windows is not 0 although coder[diff].transform is 0';
      throw new PatchError('BAD_RESERVED', `header field ${why}`);
    }
    return NO_WINDOWS;
  }
  const w: PointerWindows = [
    [b.readUInt16LE(120), b.readUInt16LE(122)],
    [b.readUInt16LE(124), b.readUInt16LE(126)],
  ];
  w.forEach(([lo, hi], i) => {
    if (lo > hi) throw new PatchError('BAD_POINTER_WINDOW', `header field pointer_windows[${i}] = ${lo}..${hi}: lo is above hi`);
  });
  return w;
}

/** Parses the chunk table (FORMAT.md section 4), checks the table digest and every entry's limits. */
export function parseChunkTable(header: PatchHeader, input: Uint8Array): ChunkEntry[] {
  const need = bodiesStart(header.chunkCount);
  if (input.length < need) throw new PatchError('SIZE_MISMATCH', `only ${input.length} bytes; header and chunk table need ${need}`);
  const computed = tableDigestOf(input, header.chunkCount).toString('hex');
  if (computed !== header.tableDigest) {
    throw new PatchError('TABLE_DIGEST_MISMATCH', `chunk table digest is ${computed.slice(0, 16)}…, header says ${header.tableDigest.slice(0, 16)}…: header or table corrupt`);
  }
  const b = Buffer.from(input.buffer, input.byteOffset, need);
  const entries: ChunkEntry[] = [];
  let expectOffset = 0;
  for (let i = 0; i < header.chunkCount; i++) {
    const at = HEADER_SIZE + ENTRY_SIZE * i;
    const e: ChunkEntry = {
      outputOffset: b.readUInt32LE(at),
      outputLength: b.readUInt32LE(at + 4),
      controlRawLen: b.readUInt32LE(at + 8),
      diffRawLen: b.readUInt32LE(at + 12),
      controlCompLen: b.readUInt32LE(at + 16),
      diffCompLen: b.readUInt32LE(at + 20),
      extraCompLen: b.readUInt32LE(at + 24),
      bodySha256: hexOf(b, at + 28),
    };
    const bad = (name: string, msg: string) => new PatchError(name, msg, { chunk: i });
    if (e.outputOffset !== expectOffset) throw bad('BAD_CHUNK_OFFSET', `output_offset = ${e.outputOffset}, expected ${expectOffset}`);
    if (e.outputLength < 1 || e.outputLength > header.chunkSize) throw bad('BAD_CHUNK_LENGTH', `output_length = ${e.outputLength} is outside 1..chunk_size (${header.chunkSize})`);
    if (e.controlRawLen < 1 || e.controlRawLen > 15 * e.outputLength + 15) throw bad('BAD_STREAM_LENGTH', `control_raw_len = ${e.controlRawLen} is outside 1..${15 * e.outputLength + 15}`);
    if (e.diffRawLen > e.outputLength) throw bad('BAD_STREAM_LENGTH', `diff_raw_len = ${e.diffRawLen} exceeds output_length ${e.outputLength}`);
    const raws = [e.controlRawLen, e.diffRawLen, extraRawLen(e)];
    const comps = [e.controlCompLen, e.diffCompLen, e.extraCompLen];
    for (let s = 0; s < 3; s++) {
      if ((raws[s] === 0) !== (comps[s] === 0) || (comps[s]! > 0 && comps[s]! < 5)) {
        throw bad('BAD_STREAM_LENGTH', `${STREAM_NAMES[s]}_comp_len = ${comps[s]} does not fit raw length ${raws[s]}`);
      }
    }
    if (bodyLen(e) > header.maxBodyLen) throw bad('BAD_STREAM_LENGTH', `body length ${bodyLen(e)} exceeds header max_body_len ${header.maxBodyLen}`);
    expectOffset += e.outputLength;
    entries.push(e);
  }
  if (expectOffset !== header.resultSize) {
    throw new PatchError('BAD_CHUNK_OFFSET', `chunks cover ${expectOffset} bytes but result_size is ${header.resultSize}`);
  }
  return entries;
}

/** Total patch size the header and table promise (FORMAT.md section 2). */
export function expectedPatchSize(header: PatchHeader, entries: ChunkEntry[]): number {
  return entries.reduce((n, e) => n + bodyLen(e), bodiesStart(header.chunkCount));
}
