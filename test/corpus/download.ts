/**
 * Fills a corpus directory from the manifest's public URLs: a file already there with the right SHA-256 is
 * kept, anything else is downloaded, verified while it streams, and only then renamed into place, so the
 * directory never holds a partial or wrong image under an image's name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, fsyncSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkImage } from './locate.ts';
import type { CorpusImage } from './manifest.ts';

export type CorpusEvent =
  | { kind: 'kept'; file: string }
  | { kind: 'replacing'; file: string; actual: string }
  | { kind: 'start'; file: string; url: string; size: number }
  | { kind: 'progress'; file: string; bytes: number; size: number }
  | { kind: 'done'; file: string; size: number }
  | { kind: 'failed'; file: string; message: string };

export interface FillOptions {
  dir: string;
  images: CorpusImage[];
  /** Replaces scheme, host and port of every manifest URL (a mirror, or a loopback server in tests). */
  baseUrl?: string;
  /** Abort a download that receives nothing for this long. */
  idleTimeoutMs?: number;
  onEvent?: (e: CorpusEvent) => void;
}

export interface FillResult {
  kept: string[];
  downloaded: string[];
  failed: Array<{ file: string; message: string }>;
}

/** Where one image is fetched from: its manifest URL, or the same path under `baseUrl`. */
export function sourceUrl(img: CorpusImage, baseUrl?: string): string {
  if (!baseUrl) return img.url;
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new Error(`FURROW_CORPUS_BASE_URL ${JSON.stringify(baseUrl)} is not a URL (expected e.g. http://127.0.0.1:8080 or https://mirror.example/furrow)`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`FURROW_CORPUS_BASE_URL ${baseUrl}: only http and https are supported`);
  // The manifest's path is kept percent-encoded as written (NerdMiner's folder has spaces: %20).
  const u = new URL(img.url);
  return `${base.href.replace(/\/+$/, '')}${u.pathname}${u.search}`;
}

/** A failure of one file; the message says which file and what went wrong. */
class DownloadError extends Error {}

function describeFetchFailure(err: unknown, url: string): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return `cannot download ${url}: ${why}`;
}

async function downloadOne(dest: string, img: CorpusImage, url: string, idleTimeoutMs: number, emit: (e: CorpusEvent) => void): Promise<void> {
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.${process.pid}-${randomBytes(4).toString('hex')}.part`;
  const ac = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ac.abort(new Error(`nothing received for ${idleTimeoutMs / 1000} s`)), idleTimeoutMs);
  };
  let fd: number | undefined;
  try {
    touch();
    let res: Response;
    try {
      res = await fetch(url, { signal: ac.signal, redirect: 'follow' });
    } catch (err) {
      throw new DownloadError(ac.signal.aborted ? `cannot download ${url}: ${(ac.signal.reason as Error).message}` : describeFetchFailure(err, url));
    }
    if (!res.ok || !res.body) throw new DownloadError(`HTTP ${res.status} ${res.statusText} from ${url}`);
    const announced = res.headers.get('content-length');
    if (announced !== null && Number(announced) !== img.size) {
      throw new DownloadError(`${url} announces ${announced} bytes, the manifest says ${img.size}`);
    }
    emit({ kind: 'start', file: img.file, url, size: img.size });
    fd = openSync(part, 'wx');
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of res.body) {
        touch();
        bytes += chunk.length;
        // A server that keeps sending must not fill the disk: the manifest knows the size.
        if (bytes > img.size) throw new DownloadError(`${url} sent more than the ${img.size} bytes the manifest lists`);
        hash.update(chunk);
        writeSync(fd, chunk);
        emit({ kind: 'progress', file: img.file, bytes, size: img.size });
      }
    } catch (err) {
      if (err instanceof DownloadError) throw err;
      throw new DownloadError(`download of ${url} broke off after ${bytes} bytes: ${ac.signal.aborted ? (ac.signal.reason as Error).message : (err as Error).message}`);
    }
    if (bytes !== img.size) throw new DownloadError(`${url} ended after ${bytes} of ${img.size} bytes`);
    const actual = hash.digest('hex');
    if (actual !== img.sha256) throw new DownloadError(`sha256 mismatch: expected ${img.sha256}, got ${actual} from ${url}; the file was not kept`);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(part, dest);
  } finally {
    clearTimeout(idle);
    if (fd !== undefined) closeSync(fd);
    rmSync(part, { force: true });
  }
}

/** Makes `dir` hold every image byte for byte; one file's failure does not stop the others. */
export async function fillCorpus(opts: FillOptions): Promise<FillResult> {
  const emit = opts.onEvent ?? (() => {});
  const result: FillResult = { kept: [], downloaded: [], failed: [] };
  for (const img of opts.images) {
    const state = await checkImage(opts.dir, img);
    if (state.state === 'ok') {
      result.kept.push(img.file);
      emit({ kind: 'kept', file: img.file });
      continue;
    }
    if (state.state === 'corrupt') emit({ kind: 'replacing', file: img.file, actual: state.actual });
    try {
      await downloadOne(join(opts.dir, img.file), img, sourceUrl(img, opts.baseUrl), opts.idleTimeoutMs ?? 30_000, emit);
      result.downloaded.push(img.file);
      emit({ kind: 'done', file: img.file, size: img.size });
    } catch (err) {
      // DownloadError, or the file system refusing (EACCES, ENOSPC): either way this file is not there.
      const message = `${img.file}: ${(err as Error).message}`;
      result.failed.push({ file: img.file, message });
      emit({ kind: 'failed', file: img.file, message });
    }
  }
  return result;
}
