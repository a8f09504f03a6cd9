/**
 * A real furrow patch from the firmware corpus (WLED 0.14.3 → 0.14.4, ~65 KB), built with the delta
 * module once and cached in the temp dir under a key that covers the encoder sources and the inputs.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodePatch } from '../../src/delta/index.ts';
import { corpusPath } from './corpus.ts';

export interface CorpusPatch {
  patch: Buffer;
  baseSha256: string;
  targetSha256: string;
  name: string;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function corpusPatch(from = 'wled-esp32/0.14.3.bin', to = 'wled-esp32/0.14.4.bin'): Promise<CorpusPatch> {
  const oldImg = readFileSync(corpusPath(from));
  const newImg = readFileSync(corpusPath(to));
  const deltaDir = resolve(import.meta.dirname, '../../src/delta');
  const h = createHash('sha256').update(sha(oldImg)).update(sha(newImg));
  for (const f of readdirSync(deltaDir).sort()) if (f.endsWith('.ts')) h.update(readFileSync(join(deltaDir, f)));
  const cache = join(tmpdir(), `furrow-lora-patch-${h.digest('hex').slice(0, 16)}.bin`);
  let patch: Buffer;
  if (existsSync(cache)) patch = readFileSync(cache);
  else {
    patch = await encodePatch(oldImg, newImg);
    writeFileSync(cache, patch);
  }
  return { patch, baseSha256: sha(oldImg), targetSha256: sha(newImg), name: `${from} → ${to}` };
}
