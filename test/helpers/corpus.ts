import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The shared firmware corpus lives beside the repository (`../shared/firmware-corpus`), never inside it. */
export const CORPUS_DIR = resolve(process.env.FURROW_CORPUS ?? resolve(import.meta.dirname, '../../../shared/firmware-corpus'));

export interface CorpusImage {
  file: string;
  product: string;
  version: string;
  chip: string;
  sha256: string;
  size: number;
}

/** The images and facts listed in SOURCES.md. */
export const CORPUS_IMAGES: CorpusImage[] = [
  { file: 'wled-esp32/0.14.3.bin', product: 'wled', version: '0.14.3', chip: 'esp32', size: 1286096, sha256: '73522fc9881bc9c824f4073e12e62af910afd86e7137447e94092934642ff2a6' },
  { file: 'wled-esp32/0.14.4.bin', product: 'wled', version: '0.14.4', chip: 'esp32', size: 1284976, sha256: '69fcec5b38174d647039a1e50629eb0b672af6ac4721ebd41c4e3415e3efabab' },
  { file: 'wled-esp32/0.15.0.bin', product: 'wled', version: '0.15.0', chip: 'esp32', size: 1360096, sha256: '9943fb09592dab19ff5e482b1a03f284927ddf64af5d74fedac9eea23de5e408' },
  { file: 'nerdminer-tdisplay-s3/1.6.0.bin', product: 'nerdminer', version: '1.6.0', chip: 'esp32s3', size: 1765008, sha256: '7356572125a2d18a2af33435a0fd27edcd24548c51e68cbc21c6772bbf5f19a5' },
  { file: 'nerdminer-tdisplay-s3/1.6.1.bin', product: 'nerdminer', version: '1.6.1', chip: 'esp32s3', size: 1774880, sha256: '9884330c90a9359b39a4c1452ea00d7d880cbd15d6499d9503853978d0ae2e69' },
];

/** Old → new pairs a fleet sees: patch releases and one feature release. */
export const CORPUS_PAIRS: Array<{ name: string; from: string; to: string }> = [
  { name: 'WLED 0.14.3→0.14.4', from: 'wled-esp32/0.14.3.bin', to: 'wled-esp32/0.14.4.bin' },
  { name: 'WLED 0.14.4→0.15.0', from: 'wled-esp32/0.14.4.bin', to: 'wled-esp32/0.15.0.bin' },
  { name: 'NerdMiner 1.6.0→1.6.1', from: 'nerdminer-tdisplay-s3/1.6.0.bin', to: 'nerdminer-tdisplay-s3/1.6.1.bin' },
];

export function corpusPath(file: string): string {
  const p = resolve(CORPUS_DIR, file);
  if (!existsSync(p)) {
    throw new Error(`firmware corpus file ${p} is missing: the tests expect ../shared/firmware-corpus beside the repository (or set FURROW_CORPUS)`);
  }
  return p;
}

export function readCorpus(file: string): Buffer {
  return readFileSync(corpusPath(file));
}
