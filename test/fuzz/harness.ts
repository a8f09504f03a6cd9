/**
 * Shared fuzzing machinery: byte mutations of valid samples as a fast-check arbitrary (so a failure
 * shrinks to a small edit of a real sample), the typed-error check, and a tally printed per parser.
 */
import fc from 'fast-check';
import { iterations, seed } from '../reliability/settings.ts';

export const RUNS = iterations('FURROW_FUZZ_RUNS', 400, 20_000);
export const SEED = seed();

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'dup'; at: number; len: number };

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x5f, 0x9f, 0xbf, 0xd8, 0xff];

/** Positions are fractions so the same arbitrary works for any sample length. */
const pos = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: pos.map((p) => p), bit: fc.integer({ min: 0, max: 7 }) }).map((m) => ({ ...m, at: m.at })),
  fc.record({ op: fc.constant('set' as const), at: pos, value: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: pos }),
  fc.record({ op: fc.constant('dup' as const), at: pos, len: fc.integer({ min: 1, max: 64 }) }),
) as fc.Arbitrary<Mutation>;

/** Positions restricted to the first `window` bytes (headers and tables of big samples). */
export function applyMutations(sample: Uint8Array, muts: Mutation[], window = sample.length): Buffer {
  let b = Buffer.from(sample);
  for (const m of muts) {
    const span = Math.max(1, Math.min(window, b.length));
    const at = Math.floor(m.at * span);
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[at % b.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length > 0) b[at % b.length] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'dup':
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at, at + m.len), b.subarray(at + m.len)]);
        break;
    }
  }
  return b;
}

/** An input: either a mutated sample or raw random bytes. */
export function inputArb(samples: Uint8Array[], opts: { window?: number; maxRandom?: number } = {}): fc.Arbitrary<Buffer> {
  const mutated = fc
    .tuple(fc.integer({ min: 0, max: samples.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 6 }))
    .map(([i, muts]) => applyMutations(samples[i]!, muts, opts.window));
  const random = fc.uint8Array({ maxLength: opts.maxRandom ?? 512 }).map((u) => Buffer.from(u));
  return fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: random, weight: 1 });
}

export interface Tally {
  name: string;
  tried: number;
  accepted: number;
  rejected: number;
  crashes: number;
}

export const tallies: Tally[] = [];

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs `parse` on one input: a value or an error of one of `allowed` is fine; anything else is a
 * crash and fails the property with the input in hex.
 */
export function checkTyped<T>(t: Tally, allowed: ErrorClass[], input: Uint8Array | string, parse: () => T): T | undefined {
  t.tried++;
  try {
    const v = parse();
    t.accepted++;
    return v;
  } catch (err) {
    if (allowed.some((c) => err instanceof c)) {
      t.rejected++;
      if (!(err as Error).message) throw new Error(`${t.name}: typed error without a message`);
      return undefined;
    }
    t.crashes++;
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 300)) : Buffer.from(input).subarray(0, 300).toString('hex');
    throw new Error(`${t.name} crashed with ${(err as Error)?.name}: ${(err as Error)?.message}\ninput (${input.length}): ${shown}`, { cause: err });
  }
}

export async function checkTypedAsync<T>(t: Tally, allowed: ErrorClass[], input: Uint8Array | string, parse: () => Promise<T>): Promise<T | undefined> {
  t.tried++;
  try {
    const v = await parse();
    t.accepted++;
    return v;
  } catch (err) {
    if (allowed.some((c) => err instanceof c)) {
      t.rejected++;
      return undefined;
    }
    t.crashes++;
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 300)) : Buffer.from(input).subarray(0, 300).toString('hex');
    throw new Error(`${t.name} crashed with ${(err as Error)?.name}: ${(err as Error)?.message}\ninput (${input.length}): ${shown}`, { cause: err });
  }
}

export function tally(name: string): Tally {
  const t = { name, tried: 0, accepted: 0, rejected: 0, crashes: 0 };
  tallies.push(t);
  return t;
}

export function printTallies(title: string): void {
  const rows = tallies.map((t) => `${t.name.padEnd(44)} ${String(t.tried).padStart(8)} ${String(t.accepted).padStart(8)} ${String(t.rejected).padStart(8)} ${String(t.crashes).padStart(7)}`);
  const total = tallies.reduce((a, t) => a + t.tried, 0);
  console.log(`${title} (seed ${SEED}, ${RUNS} runs per property)\n${'parser'.padEnd(44)} ${'tried'.padStart(8)} ${'accepted'.padStart(8)} ${'rejected'.padStart(8)} ${'crashes'.padStart(7)}\n${rows.join('\n')}\ntotal inputs: ${total}`);
}

export function fcParams<T>(runs = RUNS): fc.Parameters<T> {
  return { numRuns: runs, seed: SEED, endOnFailure: true };
}
