import { createHash, randomBytes } from 'node:crypto';

/**
 * A furrow patch (src/delta/FORMAT.md §3) with a valid header and chunk table around random bodies.
 * The gateway only slices patch bytes and reads the header for the manifest, and the simulated device
 * does not decode, so the bodies need not be real bsdiff output; the size is what matters here.
 */
export function syntheticPatch(size: number, base: { sha256: Buffer; size: number }, result: { sha256: Buffer; size: number }): Buffer {
  const HEADER = 160;
  const ENTRY = 60;
  const chunks = 1;
  if (size < HEADER + ENTRY * chunks + 16) throw new RangeError(`a synthetic patch needs at least ${HEADER + ENTRY + 16} bytes`);
  const body = randomBytes(size - HEADER - ENTRY * chunks);
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
  h.writeUInt32LE(body.length, 92);
  const table = Buffer.alloc(ENTRY * chunks);
  table.writeUInt32LE(0, 0);
  table.writeUInt32LE(result.size, 4);
  table.writeUInt32LE(1, 8);
  table.writeUInt32LE(body.length - 1, 24);
  createHash('sha256').update(body).digest().copy(table, 28);
  createHash('sha256').update(h.subarray(0, 128)).update(table).digest().copy(h, 128);
  return Buffer.concat([h, table, body]);
}
