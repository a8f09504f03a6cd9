/**
 * The firmware corpus for tests: real ESP32 images listed in test/corpus/manifest.json, found where
 * test/corpus/locate.ts says (never inside the repository). test/helpers/global-setup.ts verifies every
 * file before any test runs, so a missing corpus is one message naming `npm run corpus`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { locateCorpus } from '../corpus/locate.ts';
import { loadManifest, type CorpusImage, type CorpusPair } from '../corpus/manifest.ts';

export type { CorpusImage, CorpusPair };

const manifest = loadManifest();

export const CORPUS_DIR = locateCorpus().dir;

/** Every image of the manifest, in its order (tests index the first five: WLED ×3, NerdMiner ×2). */
export const CORPUS_IMAGES: CorpusImage[] = manifest.images;

/** The old → new pairs the suite iterates: two patch releases and one feature release (index 1). */
export const CORPUS_PAIRS: CorpusPair[] = manifest.pairs.filter((p) => p.suite);

export function corpusPath(file: string): string {
  const p = resolve(CORPUS_DIR, file);
  if (!existsSync(p)) throw new Error(`firmware corpus file ${p} is missing: run \`npm run corpus\` (or set FURROW_CORPUS to a directory holding the corpus)`);
  return p;
}

export function readCorpus(file: string): Buffer {
  return readFileSync(corpusPath(file));
}
