/**
 * Where the firmware corpus is, and whether it is complete: `$FURROW_CORPUS`, else
 * `../shared/firmware-corpus` beside the repository (CI), else the user cache `npm run corpus` fills.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { CorpusImage } from './manifest.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const BESIDE_REPO = resolve(REPO_ROOT, '../shared/firmware-corpus');

export type CorpusSource = 'FURROW_CORPUS' | '../shared' | 'cache';

/** The user cache: `$XDG_CACHE_HOME/furrow/firmware-corpus`, else `~/.cache/furrow/firmware-corpus`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  // XDG Base Directory: a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.cache');
  return join(base, 'furrow', 'firmware-corpus');
}

export function locateCorpus(env: NodeJS.ProcessEnv = process.env): { dir: string; source: CorpusSource } {
  if (env.FURROW_CORPUS) return { dir: resolve(env.FURROW_CORPUS), source: 'FURROW_CORPUS' };
  if (existsSync(BESIDE_REPO)) return { dir: BESIDE_REPO, source: '../shared' };
  return { dir: cacheDir(env), source: 'cache' };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export type FileState = { file: string; state: 'ok' } | { file: string; state: 'missing' } | { file: string; state: 'corrupt'; expected: string; actual: string; size: number };

/** Checks one image in `dir` by size, then SHA-256. */
export async function checkImage(dir: string, img: CorpusImage): Promise<FileState> {
  const p = join(dir, img.file);
  let size: number;
  try {
    const st = statSync(p);
    if (!st.isFile()) return { file: img.file, state: 'missing' };
    size = st.size;
  } catch {
    return { file: img.file, state: 'missing' };
  }
  const actual = await sha256File(p);
  return actual === img.sha256 ? { file: img.file, state: 'ok' } : { file: img.file, state: 'corrupt', expected: img.sha256, actual, size };
}

/** Every image that is not there byte for byte, or an empty list. */
export async function corpusProblems(dir: string, images: CorpusImage[]): Promise<Exclude<FileState, { state: 'ok' }>[]> {
  const states = await Promise.all(images.map((img) => checkImage(dir, img)));
  return states.filter((s): s is Exclude<FileState, { state: 'ok' }> => s.state !== 'ok');
}
