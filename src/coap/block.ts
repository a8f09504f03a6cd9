/**
 * Block2 (RFC 7959) for responses the handler slices itself: the server never buffers a whole
 * representation per client, so any block can be asked for first (that is how a device resumes).
 */
export interface BlockOption {
  num: number;
  more: boolean;
  /** 0..6 → 16..1024 bytes; 7 is reserved for BERT (RFC 8323) and refused over UDP. */
  szx: number;
}

export const blockSize = (szx: number): number => 1 << (szx + 4);

/** RFC 7959 §2.2: NUM (4, 12 or 20 bits) | M (1 bit) | SZX (3 bits), as a uint option (0-3 bytes). */
export function decodeBlock(value: Buffer): BlockOption | undefined {
  if (value.length > 3) return undefined;
  let v = 0;
  for (const b of value) v = (v << 8) | b;
  return { num: v >> 4, more: (v & 0x08) !== 0, szx: v & 0x07 };
}

export function encodeBlock(b: BlockOption): Buffer {
  const v = (b.num << 4) | (b.more ? 0x08 : 0) | b.szx;
  if (v === 0) return Buffer.alloc(0);
  if (v < 0x100) return Buffer.from([v]);
  if (v < 0x10000) return Buffer.from([v >> 8, v & 0xff]);
  return Buffer.from([v >> 16, (v >> 8) & 0xff, v & 0xff]);
}

/** Largest SZX whose block plus `overhead` header/option bytes fits a datagram; at most 6 (1024 B). */
export function szxForDatagram(maxDatagram: number, overhead = 64): number {
  let szx = 6;
  while (szx > 0 && blockSize(szx) + overhead > maxDatagram) szx--;
  return szx;
}

/** Largest SZX whose block is at most `payload` bytes; 0 (16 B) when even that is larger. */
export function szxForPayload(payload: number): number {
  let szx = 6;
  while (szx > 0 && blockSize(szx) > payload) szx--;
  return szx;
}

export type BlockSlice =
  | { ok: true; num: number; szx: number; offset: number; length: number; more: boolean }
  | { ok: false; reason: string };

/**
 * Which bytes answer a Block2 request for a representation of `total` bytes.
 * RFC 7959 §2.4: a server may answer with a smaller SZX than asked; the block number is then scaled
 * so the reply starts at the same byte offset the client asked for.
 */
export function sliceBlock2(total: number, requested: BlockOption | undefined, maxSzx: number, defaultSzx: number): BlockSlice {
  let num = 0;
  let szx = Math.min(defaultSzx, maxSzx);
  if (requested) {
    if (requested.szx === 7) return { ok: false, reason: 'Block2 SZX 7 (BERT) is not valid over UDP' };
    if (requested.szx > maxSzx) {
      num = requested.num << (requested.szx - maxSzx);
      szx = maxSzx;
    } else {
      num = requested.num;
      szx = requested.szx;
    }
  }
  const size = blockSize(szx);
  const offset = num * size;
  // An empty representation has exactly one (empty) block 0.
  if (offset >= total && !(total === 0 && num === 0)) {
    return { ok: false, reason: `block ${num} of ${size} bytes starts at ${offset}, past the end (${total} bytes)` };
  }
  const length = Math.min(size, total - offset);
  return { ok: true, num, szx, offset, length, more: offset + length < total };
}
