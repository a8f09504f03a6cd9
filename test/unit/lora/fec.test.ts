import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codedFragment, fragment, parityCount } from '../../../src/bearer/lora/fuota/fec-encoder.ts';
import { BufferFlash, FecDecoder, fecDecoderRamBytes } from '../../../src/bearer/lora/fuota/fec-decoder.ts';
import { matrixLine, prbs23 } from '../../../src/bearer/lora/fuota/parity-matrix.ts';

/** Deterministic PRNG so a failing loss pattern can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function reassemble(flash: BufferFlash, size: number): Buffer {
  return flash.buf.subarray(0, size);
}

describe('TS004 parity matrix', () => {
  it('steps the PRBS-23 generator as the spec defines it (1001 → 0x1F4 → 0x4000FA)', () => {
    expect(prbs23(1001)).toBe(0x1f4);
    expect(prbs23(0x1f4)).toBe(0x4000fa);
  });

  it('builds the same line for the same n and sets at most M/2 distinct fragments', () => {
    const a = new Uint8Array(13);
    const b = new Uint8Array(13);
    const set = matrixLine(7, 100, a);
    matrixLine(7, 100, b);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(set).toBeGreaterThan(20);
    expect(set).toBeLessThanOrEqual(50);
  });

  it('handles a power-of-two fragment count (the M+1 modulus) without ever naming fragment M', () => {
    const line = new Uint8Array(9); // 64 bits used + one spare byte that must stay zero
    for (let n = 1; n < 50; n++) {
      matrixLine(n, 64, line);
      expect(line[8]).toBe(0);
    }
  });
});

describe('FEC decoder', () => {
  it('rebuilds the block byte-exact from uncoded plus parity fragments under 15% loss', () => {
    const data = randomBytes(20_000);
    const plan = fragment(data, 200);
    const flash = new BufferFlash(plan.nbFrag, plan.fragSize);
    const dec = new FecDecoder(plan.nbFrag, plan.fragSize, 40, flash);
    const rand = rng(42);
    for (let n = 1; n <= plan.nbFrag; n++) if (rand() > 0.15) dec.push(n, plan.uncoded[n - 1]!);
    expect(dec.missing).toBeGreaterThan(0);
    let n = 1;
    while (!dec.push(plan.nbFrag + n, codedFragment(plan, n))) n++;
    expect(dec.state).toBe('complete');
    expect(reassemble(flash, data.length).equals(data)).toBe(true);
  });

  it('names exactly the fragments a unicast repair must resend, and completes with them', () => {
    const data = randomBytes(10_000);
    const plan = fragment(data, 100);
    const flash = new BufferFlash(plan.nbFrag, plan.fragSize);
    const dec = new FecDecoder(plan.nbFrag, plan.fragSize, 50, flash);
    const rand = rng(7);
    for (let n = 1; n <= plan.nbFrag; n++) if (rand() > 0.3) dec.push(n, plan.uncoded[n - 1]!);
    const lost = dec.missing;
    // Only five parity fragments: not enough for ~30 lost ones.
    for (let n = 1; n <= 5; n++) dec.push(plan.nbFrag + n, codedFragment(plan, n));
    const repair = dec.repairList();
    expect(repair.length).toBe(dec.missing);
    expect(repair.length).toBeLessThan(lost);
    expect(repair.length).toBeGreaterThanOrEqual(lost - 5);
    for (const i of repair) dec.push(i + 1, plan.uncoded[i]!);
    expect(dec.state).toBe('complete');
    expect(reassemble(flash, data.length).equals(data)).toBe(true);
  });

  it('falls back to resending every lost fragment when losses exceed its matrix', () => {
    const data = randomBytes(5_000);
    const plan = fragment(data, 50);
    const flash = new BufferFlash(plan.nbFrag, plan.fragSize);
    const dec = new FecDecoder(plan.nbFrag, plan.fragSize, 5, flash);
    for (let n = 1; n <= plan.nbFrag; n++) if (n % 3 !== 0) dec.push(n, plan.uncoded[n - 1]!);
    for (let n = 1; n <= parityCount(plan.nbFrag, 0.5); n++) dec.push(plan.nbFrag + n, codedFragment(plan, n));
    expect(dec.state).toBe('overflow');
    const repair = dec.repairList();
    expect(repair.length).toBe(Math.floor(plan.nbFrag / 3));
    for (const i of repair) dec.push(i + 1, plan.uncoded[i]!);
    expect(reassemble(flash, data.length).equals(data)).toBe(true);
  });

  it('allocates exactly the RAM its formula states: under 2 KB for a 100 KB patch at DR5', () => {
    const nbFrag = Math.ceil(102_400 / 232);
    const dec = new FecDecoder(nbFrag, 232, 128, new BufferFlash(nbFrag, 232));
    expect(dec.ramBytes).toBe(fecDecoderRamBytes(nbFrag, 232, 128));
    expect(dec.ramBytes).toBeLessThan(2048);
  });

  it('rebuilds the block from fragments in any order, with duplicates, once enough have arrived', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1000 }), (nbFrag, seed) => {
        const data = randomBytes(nbFrag * 8 - (seed % 8));
        const plan = fragment(data, 8);
        const flash = new BufferFlash(plan.nbFrag, 8);
        const dec = new FecDecoder(plan.nbFrag, 8, plan.nbFrag, flash);
        const rand = rng(seed);
        const frames = [...plan.uncoded.map((f, i) => ({ n: i + 1, f })), ...Array.from({ length: plan.nbFrag }, (_, i) => ({ n: plan.nbFrag + i + 1, f: codedFragment(plan, i + 1) }))];
        for (let k = 0; k < frames.length * 2 && !dec.complete; k++) {
          const fr = frames[Math.floor(rand() * frames.length)]!;
          if (rand() < 0.5) dec.push(fr.n, fr.f);
        }
        for (const i of dec.repairList()) dec.push(i + 1, plan.uncoded[i]!);
        expect(dec.complete).toBe(true);
        expect(flash.buf.subarray(0, data.length).equals(data)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a fragment of the wrong size', () => {
    const dec = new FecDecoder(10, 20, 5, new BufferFlash(10, 20));
    expect(() => dec.push(1, Buffer.alloc(19))).toThrow(/FragSize is 20/);
  });
});
