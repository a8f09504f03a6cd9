import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFurrow } from '../helpers/daemon.ts';
import { corpusPath, CORPUS_IMAGES } from '../helpers/corpus.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('furrow release through the CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cfg: string;
  beforeAll(() => {
    tmp = tempDir();
    cfg = join(tmp.dir, 'furrow.yaml');
    writeFileSync(cfg, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\n`);
  });
  afterAll(() => tmp.cleanup());

  it('adds releases, lists and shows them, and exits 0', async () => {
    for (const img of CORPUS_IMAGES.slice(0, 2)) {
      const r = await runFurrow(['release', 'add', corpusPath(img.file), '--product', img.product, '--version', img.version, '--config', cfg]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`added: ${img.product} ${img.version}`));
    }
    const list = await runFurrow(['--config', cfg, 'release', 'list', '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{ version: string; sha256: string; chip: string }>;
    expect(rows.map((r) => [r.version, r.sha256, r.chip])).toEqual(CORPUS_IMAGES.slice(0, 2).map((i) => [i.version, i.sha256, i.chip]));
    const show = await runFurrow(['release', 'show', 'wled', '0.14.4', '-c', cfg]);
    expect(show.stdout).toMatch(/sha256\s+69fcec5b/);
  });

  it('exits 2 with the failed check for a truncated image', async () => {
    const cut = join(tmp.dir, 'cut.bin');
    const { readFileSync } = await import('node:fs');
    writeFileSync(cut, readFileSync(corpusPath(CORPUS_IMAGES[2]!.file)).subarray(0, 50_000));
    const r = await runFurrow(['release', 'add', cut, '-p', 'wled', '-V', '9.9', '-c', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cut\.bin: segment 0 .* needs \d+ bytes/);
  });

  it('exits 2 on bad usage and 0 for --help with an example', async () => {
    expect((await runFurrow(['release', 'add', '-c', cfg])).code).toBe(2);
    expect((await runFurrow(['frobnicate'])).code).toBe(2);
    const help = await runFurrow(['release', 'add', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Example:/);
  });

  it('signs a release offline and the gateway accepts it only with the trusted key configured', async () => {
    const key = join(tmp.dir, 'vendor');
    expect((await runFurrow(['keys', 'generate', key])).code).toBe(0);
    const img = CORPUS_IMAGES[3]!;
    const sig = join(tmp.dir, 'nm.sig');
    const signed = await runFurrow(['release', 'sign', corpusPath(img.file), '-p', img.product, '-V', img.version, '-k', `${key}.pem`, '-o', sig]);
    expect(signed.code).toBe(0);
    const strict = join(tmp.dir, 'strict.yaml');
    writeFileSync(strict, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { trustedKeys: [${JSON.stringify(`${key}.pub.pem`)}] }\n`);
    const unsigned = await runFurrow(['release', 'add', corpusPath(img.file), '-p', img.product, '-V', img.version, '-c', strict]);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/refuses unsigned releases/);
    const ok = await runFurrow(['release', 'add', corpusPath(img.file), '-p', img.product, '-V', img.version, '--sig', sig, '-c', strict]);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toMatch(/signed by [0-9a-f]{16}/);
  });
});
