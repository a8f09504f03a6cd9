import { bitIsSet, matrixLine } from './parity-matrix.ts';

export interface FragmentPlan {
  nbFrag: number;
  fragSize: number;
  /** Zero bytes appended to the last fragment (TS004 FragSessionSetupReq.Padding). */
  padding: number;
  /** Uncoded fragments, index 0 is N = 1. */
  uncoded: Buffer[];
}

/** Splits a data block into nbFrag fragments of fragSize bytes, the last one zero-padded. */
export function fragment(data: Buffer, fragSize: number): FragmentPlan {
  if (fragSize < 1 || fragSize > 255) throw new RangeError(`fragment size ${fragSize} is outside 1..255 (TS004 FragSize is one byte)`);
  const nbFrag = Math.max(1, Math.ceil(data.length / fragSize));
  if (nbFrag > 0x3fff) throw new RangeError(`${data.length} bytes in ${fragSize}-byte fragments need ${nbFrag} fragments; TS004 numbers at most 16383`);
  const padding = nbFrag * fragSize - data.length;
  if (padding > 255) throw new RangeError(`padding of ${padding} bytes does not fit TS004's one-byte Padding`);
  const uncoded: Buffer[] = [];
  for (let i = 0; i < nbFrag; i++) {
    const f = Buffer.alloc(fragSize);
    data.copy(f, 0, i * fragSize, Math.min(data.length, (i + 1) * fragSize));
    uncoded.push(f);
  }
  return { nbFrag, fragSize, padding, uncoded };
}

/** Coded fragment number `n` (1-based, after the uncoded ones): XOR of the fragments on its matrix line. */
export function codedFragment(plan: FragmentPlan, n: number, scratch = new Uint8Array((plan.nbFrag + 7) >> 3)): Buffer {
  matrixLine(n, plan.nbFrag, scratch);
  const out = Buffer.alloc(plan.fragSize);
  for (let j = 0; j < plan.nbFrag; j++) {
    if (!bitIsSet(scratch, j)) continue;
    const f = plan.uncoded[j]!;
    for (let k = 0; k < out.length; k++) out[k]! ^= f[k]!;
  }
  return out;
}

/** Number of parity fragments for a redundancy ratio (e.g. 0.2 → 20% more frames than nbFrag). */
export function parityCount(nbFrag: number, redundancy: number): number {
  return Math.ceil(nbFrag * redundancy);
}
