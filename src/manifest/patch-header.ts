/**
 * What the manifest needs from a furrow patch header (src/delta/FORMAT.md §3): the structural read of
 * src/delta (`readPatchLayout`), which recomputes the chunk table digest instead of trusting the stored
 * field, so a damaged patch is never signed. Full field validation is the applier's job.
 */
import { FurrowError } from '../errors.ts';
import { PatchError, readPatchLayout } from '../delta/index.ts';

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

export function readPatchDigests(patch: Buffer, where = 'patch'): PatchDigests {
  let l;
  try {
    l = readPatchLayout(patch);
  } catch (err) {
    if (!(err instanceof PatchError)) throw err;
    throw new FurrowError('PATCH_HEADER', `${where}: ${err.detail}`, { hint: 'rebuild the patch (furrow delta build)', cause: err });
  }
  return {
    formatVersion: l.formatVersion,
    full: l.full,
    baseSize: l.baseSize,
    baseSha256: Buffer.from(l.baseSha256, 'hex'),
    resultSize: l.resultSize,
    resultSha256: Buffer.from(l.resultSha256, 'hex'),
    chunkCount: l.chunkCount,
    tableDigest: Buffer.from(l.tableDigest, 'hex'),
  };
}
