/**
 * The firmware corpus manifest (`manifest.json` beside this file): which real ESP32 images the tests use,
 * where each comes from (a raw URL at a pinned commit) and its SHA-256. The one list every test, benchmark
 * and `npm run corpus` reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
// Corpus paths are joined under a directory we write into: no absolute paths, no "..", no odd characters.
const corpusFile = z.string().regex(/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*\.bin$/, 'a relative path like product/1.2.3.bin');

const imageSchema = z.strictObject({
  file: corpusFile,
  product: z.string().min(1),
  version: z.string().min(1),
  chip: z.string().min(1),
  size: z.number().int().positive(),
  sha256,
  url: z.url({ protocol: /^https?$/ }),
  license: z.string().min(1),
});

const pairSchema = z.strictObject({
  name: z.string().min(1),
  from: corpusFile,
  to: corpusFile,
  standsFor: z.string().min(1),
  /** Iterated by the test suite (CORPUS_PAIRS); the others are listed for work that needs them. */
  suite: z.boolean(),
  /** HDiffPatch hdiffz -m-6 -SD lzma2 patch size, % of the new image (SOURCES.md), for bench:delta. */
  hdiffpatchPct: z.number().positive().optional(),
});

const manifestSchema = z
  .strictObject({ about: z.array(z.string()), images: z.array(imageSchema).min(1), pairs: z.array(pairSchema) })
  .superRefine((m, ctx) => {
    const files = new Set<string>();
    for (const [i, img] of m.images.entries()) {
      if (files.has(img.file)) ctx.addIssue({ code: 'custom', path: ['images', i, 'file'], message: `${img.file} is listed twice` });
      files.add(img.file);
    }
    for (const [i, p] of m.pairs.entries()) {
      for (const end of ['from', 'to'] as const) {
        if (!files.has(p[end])) ctx.addIssue({ code: 'custom', path: ['pairs', i, end], message: `${p[end]} is not one of the images` });
      }
    }
  });

export type CorpusImage = z.infer<typeof imageSchema>;
export type CorpusPair = z.infer<typeof pairSchema>;
export type CorpusManifest = z.infer<typeof manifestSchema>;

export const MANIFEST_FILE = join(import.meta.dirname, 'manifest.json');

/** Reads and checks a manifest; every problem is reported at once as `file: path: message`. */
export function loadManifest(file = MANIFEST_FILE): CorpusManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the corpus manifest: ${(err as Error).message}`);
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(r.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n'));
  }
  return r.data;
}
