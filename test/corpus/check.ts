/**
 * What the test run says about the firmware corpus before any test starts: nothing when every image is
 * there byte for byte, else one message naming `npm run corpus` (test/helpers/global-setup.ts prints it).
 */
import { corpusProblems, locateCorpus } from './locate.ts';
import { loadManifest } from './manifest.ts';

export async function corpusRefusal(env: NodeJS.ProcessEnv = process.env): Promise<string[] | undefined> {
  const { images } = loadManifest();
  const { dir, source } = locateCorpus(env);
  const problems = await corpusProblems(dir, images);
  if (problems.length === 0) return undefined;
  const where = {
    FURROW_CORPUS: `${dir} (FURROW_CORPUS)`,
    cache: `${dir} (the user cache: FURROW_CORPUS is not set and there is no ../shared/firmware-corpus beside the repository)`,
    '../shared': dir,
  }[source];
  const fix = {
    FURROW_CORPUS: 'Run `npm run corpus` to download and verify them into FURROW_CORPUS, or unset FURROW_CORPUS.',
    cache: 'Run `npm run corpus` once: it downloads them from their public sources and verifies each SHA-256.',
    '../shared': 'Repair that directory, or run `FURROW_CORPUS=<dir> npm run corpus` and test with that FURROW_CORPUS.',
  }[source];
  const all = problems.length === images.length && problems.every((p) => p.state === 'missing');
  return [
    `furrow tests need the firmware corpus (${images.length} real ESP32 images, test/corpus/manifest.json): ${all ? 'none of them is' : `${problems.length} of them missing or corrupt`} in ${where}.`,
    ...(all ? [] : problems.map((p) => (p.state === 'missing' ? `  ${p.file}: missing` : `  ${p.file}: corrupt, sha256 ${p.actual}, expected ${p.expected}`))),
    fix,
  ];
}
