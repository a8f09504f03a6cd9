/**
 * A real furrow patch from the firmware corpus (WLED 0.14.3 → 0.14.4, ~65 KB), built with the delta
 * module once and kept in the firmware tests' patch cache (test/.tmp/, keyed by the encoder sources).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { corpusPatch as cachedPatchFile } from '../unit/firmware/fw.ts';
import { readCorpus } from './corpus.ts';

export interface CorpusPatch {
  patch: Buffer;
  baseSha256: string;
  targetSha256: string;
  name: string;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function corpusPatch(from = 'wled-esp32/0.14.3.bin', to = 'wled-esp32/0.14.4.bin'): Promise<CorpusPatch> {
  const patch = readFileSync(await cachedPatchFile(from, to));
  return { patch, baseSha256: sha(readCorpus(from)), targetSha256: sha(readCorpus(to)), name: `${from} → ${to}` };
}
