/**
 * Reads what the manifest needs from a furrow patch header (src/delta/FORMAT.md §3) and recomputes the
 * chunk table digest instead of trusting the stored field, so a damaged patch is never signed.
 */
import { createHash } from 'node:crypto';
import { FurrowError } from '../errors.ts';

export interface PatchDigests {
  formatVersion: number;
  full: boolean;
  baseSize: number;
  baseSha256: Buffer;
  resultSize: number;
  resultSha256: Buffer;
  chunkCount: number;
  tableDigest: Buffer;
}

const HEADER = 160;
const ENTRY = 60;

export function readPatchDigests(patch: Buffer, where = 'patch'): PatchDigests {
  const bad = (what: string) => new FurrowError('PATCH_HEADER', `${where}: ${what}`, { hint: 'rebuild the patch (furrow delta build)' });
  if (patch.length < HEADER) throw bad(`only ${patch.length} bytes; a furrow patch header is ${HEADER}`);
  if (patch.toString('latin1', 0, 4) !== 'FRWP') throw bad('magic is not FRWP');
  const formatVersion = patch.readUInt16LE(4);
  if (formatVersion !== 1) throw bad(`format version ${formatVersion} is not 1`);
  if (patch.readUInt16LE(6) !== HEADER) throw bad(`header size ${patch.readUInt16LE(6)} is not ${HEADER}`);
  const chunkCount = patch.readUInt32LE(84);
  const tableEnd = HEADER + ENTRY * chunkCount;
  if (chunkCount < 1 || tableEnd > patch.length) throw bad(`chunk table of ${chunkCount} entries does not fit in ${patch.length} bytes`);
  const tableDigest = createHash('sha256').update(patch.subarray(0, 128)).update(patch.subarray(HEADER, tableEnd)).digest();
  if (!tableDigest.equals(patch.subarray(128, 160))) throw bad('stored chunk table digest does not match the header and table');
  return {
    formatVersion,
    full: (patch[9]! & 1) === 1,
    baseSize: patch.readUInt32LE(12),
    baseSha256: Buffer.from(patch.subarray(16, 48)),
    resultSize: patch.readUInt32LE(48),
    resultSha256: Buffer.from(patch.subarray(52, 84)),
    chunkCount,
    tableDigest,
  };
}
