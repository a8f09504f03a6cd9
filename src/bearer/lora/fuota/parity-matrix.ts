/**
 * The parity matrix of TS004-1.0.0 (§ "Fragmentation algorithm" annex): coded fragment n (1-based,
 * counted after the nbFrag uncoded ones) is the XOR of the uncoded fragments whose bit is set in
 * matrix_line(n, M). Lines come from a 23-bit PRBS seeded with 1 + 1001·n, so sender and device
 * build the same line from n alone. TS004-2.0.0 changed the generator; this is the 1.0.0 one.
 */
export function prbs23(x: number): number {
  const b0 = x & 1;
  const b1 = (x >> 5) & 1;
  return (x >>> 1) + ((b0 ^ b1) << 22);
}

function isPowerOfTwo(m: number): boolean {
  return m > 0 && (m & (m - 1)) === 0;
}

/**
 * Sets into `out` (a bitset of at least ceil(m/8) bytes, cleared here) the uncoded fragments that
 * coded fragment `n` covers; bit j is fragment j (0-based). Returns the number of distinct bits set.
 */
export function matrixLine(n: number, m: number, out: Uint8Array): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`coded fragment number ${n} must be a positive integer`);
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`fragment count ${m} must be a positive integer`);
  out.fill(0, 0, (m + 7) >> 3);
  // With a power-of-two M the modulus is M+1 so every value stays reachable; values ≥ M are redrawn.
  const mod = m + (isPowerOfTwo(m) ? 1 : 0);
  let x = 1 + 1001 * n;
  let set = 0;
  for (let coeff = 0; coeff < m >> 1; coeff++) {
    let r = 1 << 16;
    while (r >= m) {
      x = prbs23(x);
      r = x % mod;
    }
    const mask = 1 << (r & 7);
    if (!(out[r >> 3]! & mask)) {
      out[r >> 3]! |= mask;
      set++;
    }
  }
  // M = 1: the loop above adds nothing; a coded fragment is then a copy of the only fragment.
  if (m === 1) {
    out[0] = 1;
    set = 1;
  }
  return set;
}

export function bitIsSet(bits: Uint8Array, i: number): boolean {
  return ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
}
