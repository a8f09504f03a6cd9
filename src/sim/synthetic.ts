import { createHash, randomBytes } from 'node:crypto';

const HEADER = 160;
const ENTRY = 60;
const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/**
 * A furrow patch (src/delta/FORMAT.md §3) with a valid header and chunk table around random bodies.
 * The gateway only slices patch bytes and reads the header for the manifest, and the simulated device
 * does not decode, so the bodies need not be real bsdiff output; the size is what matters here.
 * Each chunk body is one byte of "control" and the rest "extra", so the table's lengths add up.
 */
export function syntheticPatch(size: number, base: { sha256: Buffer; size: number }, result: { sha256: Buffer; size: number }, chunks = 1): Buffer {
  const bodyTotal = size - HEADER - ENTRY * chunks;
  if (bodyTotal < chunks * 3) throw new RangeError(`a synthetic patch of ${chunks} chunk(s) needs at least ${HEADER + ENTRY * chunks + chunks * 3} bytes`);
  const even = Math.floor(bodyTotal / chunks);
  const bodies = Array.from({ length: chunks }, (_, i) => randomBytes(i < chunks - 1 ? even : bodyTotal - even * (chunks - 1)));
  const h = Buffer.alloc(HEADER);
  h.write('FRWP', 0, 'latin1');
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(HEADER, 6);
  h[8] = 1;
  h[9] = base.size === 0 ? 1 : 0;
  h.writeUInt32LE(base.size, 12);
  base.sha256.copy(h, 16);
  h.writeUInt32LE(result.size, 48);
  result.sha256.copy(h, 52);
  h.writeUInt32LE(chunks, 84);
  h.writeUInt32LE(65536, 88);
  h.writeUInt32LE(Math.max(...bodies.map((b) => b.length)), 92);
  const table = Buffer.alloc(ENTRY * chunks);
  const outLen = Math.ceil(result.size / chunks);
  bodies.forEach((b, i) => {
    const e = table.subarray(ENTRY * i);
    e.writeUInt32LE(outLen * i, 0);
    e.writeUInt32LE(outLen, 4);
    e.writeUInt32LE(1, 8);
    e.writeUInt32LE(1, 16);
    e.writeUInt32LE(b.length - 1, 24);
    sha(b).copy(e, 28);
  });
  createHash('sha256').update(h.subarray(0, 128)).update(table).digest().copy(h, 128);
  return Buffer.concat([h, table, ...bodies]);
}
