import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch } from '../../src/delta/index.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { corpusPath, CORPUS_IMAGES, readCorpus } from '../helpers/corpus.ts';
import { runFurrowInProcess as runFurrow } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('furrow delta through the CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  let cfg: string;
  beforeAll(async () => {
    tmp = tempDir();
    cfg = join(tmp.dir, 'furrow.yaml');
    writeFileSync(cfg, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\n`);
    for (const img of CORPUS_IMAGES.slice(0, 2)) {
      const r = await runFurrow(['release', 'add', corpusPath(img.file), '-p', img.product, '-V', img.version, '-c', cfg]);
      expect(r.code).toBe(0);
    }
  });
  afterAll(() => tmp.cleanup());

  it('builds a verified patch with a progress report on stderr, then lists it with sizes and ratios', async () => {
    const r = await runFurrow(['delta', 'build', '--from', '0.14.3', '--to', '0.14.4', '-c', cfg]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/wled 0\.14\.3 → 0\.14\.4: 100%/);
    const m = /built: wled 0\.14\.3 → 0\.14\.4 {2}delta v2 .*\(([\d.]+) % of the image\) {2}patch ([0-9a-f]{64})/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(6);
    const patch = new BlobStore(join(tmp.dir, 'data', 'blobs')).get(m![2]!);
    expect(applyPatch(readCorpus(CORPUS_IMAGES[0]!.file), patch).equals(readCorpus(CORPUS_IMAGES[1]!.file))).toBe(true);

    const again = await runFurrow(['delta', 'build', '-f', '0.14.3', '-t', '0.14.4', '-p', 'wled', '-c', cfg]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already stored: /);

    const list = await runFurrow(['delta', 'list', '-c', cfg]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/wled\s+0\.14\.3\s+0\.14\.4\s+≤ v2\s+delta\s+v2\s+[\d.]+ KiB\s+[\d.]+ %/);
    expect(list.stdout).toMatch(/wled\s+\(any\)\s+0\.14\.4\s+≤ v1\s+full\s+v1/);

    // devices on firmware that predates format 2 get their own, v1, patch of the same move
    const old = await runFurrow(['delta', 'build', '--from', '0.14.3', '--to', '0.14.4', '--format', '1', '-c', cfg]);
    expect(old.code, old.stderr).toBe(0);
    const m1 = /built: wled 0\.14\.3 → 0\.14\.4 {2}delta v1 .*patch ([0-9a-f]{64})/.exec(old.stdout);
    expect(m1, old.stdout).not.toBeNull();
    expect(m1![1]).not.toBe(m![2]);
    const json = JSON.parse((await runFurrow(['delta', 'list', '--json', '-c', cfg])).stdout) as Array<{ kind: string; formatCap: number; formatVersion: number; size: number }>;
    expect(json.map((r) => `${r.kind} v${r.formatVersion}/${r.formatCap}`).sort()).toEqual(['delta v1/1', 'delta v2/2', 'full v1/1']);
    const [v1, v2] = [1, 2].map((f) => json.find((r) => r.kind === 'delta' && r.formatVersion === f)!.size);
    expect(v2).toBeLessThan(v1!);
  });

  it('exits 2 naming the problem for unknown versions and bad usage, 0 for --help with an example', async () => {
    const unknown = await runFurrow(['delta', 'build', '--from', '9.9.9', '--to', '0.14.4', '-c', cfg]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--from 9\.9\.9: no release has version 9\.9\.9/);
    const wrongProduct = await runFurrow(['delta', 'build', '--from', '0.14.3', '--to', '0.14.4', '-p', 'nerdminer', '-c', cfg]);
    expect(wrongProduct.code).toBe(2);
    expect((await runFurrow(['delta', 'build', '--from', '0.14.3', '-c', cfg])).code).toBe(2);
    const badFormat = await runFurrow(['delta', 'build', '--from', '0.14.3', '--to', '0.14.4', '--format', '3', '-c', cfg]);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(/--format 3: furrow patch formats are 1 and 2/);
    for (const verb of ['build', 'list']) {
      const help = await runFurrow(['delta', verb, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Example:\n {2}\$ furrow delta /);
    }
  });
});
