/**
 * `npm run corpus`: downloads the firmware corpus the tests use into `$FURROW_CORPUS`, else the user cache
 * (`$XDG_CACHE_HOME/furrow/firmware-corpus`), from the pinned public URLs of test/corpus/manifest.json,
 * verifying every file's SHA-256. `FURROW_CORPUS_BASE_URL` points it at a mirror. Exit 0 when every image
 * is in place, 1 when any failed (each failure named), 2 for a bad setting.
 */
import { resolve } from 'node:path';
import { fillCorpus, sourceUrl, type CorpusEvent } from './download.ts';
import { cacheDir, locateCorpus } from './locate.ts';
import { loadManifest } from './manifest.ts';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function reporter(out: NodeJS.WriteStream): (e: CorpusEvent) => void {
  let lastDraw = 0;
  return (e) => {
    switch (e.kind) {
      case 'kept':
        out.write(`  ok          ${e.file} (already there, sha256 verified)\n`);
        break;
      case 'replacing':
        out.write(`  corrupt     ${e.file} (sha256 ${e.actual}): downloading it again\n`);
        break;
      case 'start':
        out.write(out.isTTY ? `  downloading ${e.file} …` : `  downloading ${e.file} (${mb(e.size)}) from ${e.url}\n`);
        break;
      case 'progress':
        // Redraw at most 10 times a second, and only where a terminal can take \r.
        if (out.isTTY && (Date.now() - lastDraw > 100 || e.bytes === e.size)) {
          lastDraw = Date.now();
          out.write(`\r\x1b[K  downloading ${e.file} ${Math.floor((100 * e.bytes) / e.size)} % of ${mb(e.size)}`);
        }
        break;
      case 'done':
        out.write(`${out.isTTY ? `\r\x1b[K` : ''}  downloaded  ${e.file} (${mb(e.size)}, sha256 verified)\n`);
        break;
      case 'failed':
        out.write(`${out.isTTY ? '\r\x1b[K' : ''}  FAILED      ${e.file} (why: below)\n`);
        break;
    }
  };
}

async function main(): Promise<number> {
  const env = process.env;
  const { images } = loadManifest();
  const dir = env.FURROW_CORPUS ? resolve(env.FURROW_CORPUS) : cacheDir(env);
  const baseUrl = env.FURROW_CORPUS_BASE_URL || undefined;
  try {
    if (baseUrl) sourceUrl(images[0]!, baseUrl);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const total = images.reduce((n, i) => n + i.size, 0);
  const out = process.stderr;
  out.write(`firmware corpus: ${images.length} images, ${mb(total)}, into ${dir}${env.FURROW_CORPUS ? ' (FURROW_CORPUS)' : ''}${baseUrl ? `, from ${baseUrl}` : ''}\n`);
  const r = await fillCorpus({ dir, images, ...(baseUrl ? { baseUrl } : {}), onEvent: reporter(out) });
  if (r.failed.length > 0) {
    out.write(`\n${r.failed.length} of ${images.length} images failed (nothing partial or unverified was kept):\n${r.failed.map((f) => `  ${f.message}`).join('\n')}\n`);
    out.write('No network to their sources? Set FURROW_CORPUS_BASE_URL to a mirror with the same paths, or FURROW_CORPUS to a directory that already holds the images.\n');
    return 1;
  }
  out.write(`done: ${r.downloaded.length} downloaded, ${r.kept.length} already there; every sha256 matches test/corpus/manifest.json\n`);
  const used = locateCorpus(env);
  if (used.dir !== dir) out.write(`note: the tests use ${used.dir} while it exists (${used.source}), not this directory\n`);
  return 0;
}

process.exitCode = await main();
