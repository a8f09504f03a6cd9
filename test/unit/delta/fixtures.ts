/** Synthetic old/new image pairs for delta tests: a random base and a new image made by edits to it. */
/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function prng(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** A base of `size` bytes with some structure (repeats, zero runs) and a new image with edits: changed bytes, an insert, a delete, a moved block. */
export function editedPair(seed: number, size: number): { oldImg: Buffer; newImg: Buffer } {
  const unit = prng(seed, Math.max(64, size >> 3));
  const parts: Buffer[] = [];
  let n = 0;
  let k = 0;
  while (n < size) {
    const piece = k % 3 === 2 ? Buffer.alloc(Math.min(200, size - n)) : prng(seed + k, Math.min(unit.length, size - n));
    parts.push(piece);
    n += piece.length;
    k++;
  }
  const oldImg = Buffer.concat(parts).subarray(0, size);
  const newImg = Buffer.from(oldImg);
  for (let i = 17; i < newImg.length; i += 997) newImg[i] = (newImg[i]! + 3) & 0xff;
  const at = Math.floor(size / 3);
  const inserted = Buffer.concat([newImg.subarray(0, at), prng(seed + 99, 300), newImg.subarray(at + 100)]);
  return { oldImg, newImg: inserted };
}
