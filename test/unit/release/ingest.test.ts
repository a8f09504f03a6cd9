import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText, type Config } from '../../../src/config/index.ts';
import { BlobStore } from '../../../src/release/blob-store.ts';
import { addRelease } from '../../../src/release/ingest.ts';
import { generateKeyFiles, loadPrivateKey } from '../../../src/release/keys.ts';
import { signStatement } from '../../../src/release/statement.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';
import { corpusPath, CORPUS_IMAGES } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';

const WLED3 = CORPUS_IMAGES[0]!;
const WLED4 = CORPUS_IMAGES[1]!;

describe('release ingest', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let blobs: BlobStore;

  beforeEach(() => {
    tmp = tempDir();
    db = openDatabase(join(tmp.dir, 'furrow.db'));
    blobs = new BlobStore(join(tmp.dir, 'blobs'));
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  const config = (yaml: string): Config => parseConfigText(yaml, 'test.yaml');
  const add = (cfg: Config, file: string, product: string, version: string, sigFile?: string) =>
    addRelease({ db, blobs, config: cfg, now: 1000 }, { file: corpusPath(file), product, version, ...(sigFile ? { sigFile } : {}) });

  it('stores the image by its SHA-256 and adding it again is a no-op', () => {
    const cfg = config('releases: { allowUnsigned: true }');
    const first = add(cfg, WLED3.file, 'wled', '0.14.3');
    expect(first.created).toBe(true);
    expect(blobs.get(WLED3.sha256).length).toBe(WLED3.size);
    const again = add(cfg, WLED3.file, 'wled', '0.14.3');
    expect(again.created).toBe(false);
    expect(new ReleaseRepo(db).list()).toHaveLength(1);
  });

  it('refuses the same product and version with a different image', () => {
    const cfg = config('releases: { allowUnsigned: true }');
    add(cfg, WLED3.file, 'wled', '0.14.3');
    expect(() => add(cfg, WLED4.file, 'wled', '0.14.3')).toThrow(/already exists with a different image/);
  });

  it('refuses an image built for another chip than the product runs on', () => {
    const cfg = config('releases: { allowUnsigned: true, products: { wled: { chip: esp32 } } }');
    expect(() => add(cfg, 'nerdminer-tdisplay-s3/1.6.0.bin', 'wled', '2.0')).toThrow(/built for esp32s3, but product wled runs on esp32/);
  });

  it('refuses unsigned releases unless the config allows them', () => {
    expect(() => add(config('{}'), WLED3.file, 'wled', '0.14.3')).toThrow(/refuses unsigned releases/);
  });

  it('accepts a release signed with a trusted key and records the signer and secure version', () => {
    const key = generateKeyFiles(join(tmp.dir, 'vendor'));
    const sig = join(tmp.dir, 'a.sig');
    writeFileSync(sig, signStatement({ product: 'wled', version: '0.14.4', secureVersion: 3, sha256: WLED4.sha256, size: WLED4.size }, loadPrivateKey(key.privateFile)));
    const cfg = config(`releases: { trustedKeys: [${JSON.stringify(key.publicFile)}] }`);
    const r = add(cfg, WLED4.file, 'wled', '0.14.4', sig);
    expect(r.release.signer).toBe(key.kid);
    expect(r.release.secureVersion).toBe(3);
  });

  it('refuses a signature made for another image', () => {
    const key = generateKeyFiles(join(tmp.dir, 'vendor'));
    const sig = join(tmp.dir, 'a.sig');
    writeFileSync(sig, signStatement({ product: 'wled', version: '0.14.4', secureVersion: 0, sha256: WLED3.sha256, size: WLED3.size }, loadPrivateKey(key.privateFile)));
    const cfg = config(`releases: { trustedKeys: [${JSON.stringify(key.publicFile)}] }`);
    expect(() => add(cfg, WLED4.file, 'wled', '0.14.4', sig)).toThrow(/made for another release: sha256/);
  });

  it('refuses a signature by a key that is not trusted', () => {
    const trusted = generateKeyFiles(join(tmp.dir, 'vendor'));
    const rogue = generateKeyFiles(join(tmp.dir, 'rogue'));
    const sig = join(tmp.dir, 'a.sig');
    writeFileSync(sig, signStatement({ product: 'wled', version: '0.14.4', secureVersion: 0, sha256: WLED4.sha256, size: WLED4.size }, loadPrivateKey(rogue.privateFile)));
    const cfg = config(`releases: { trustedKeys: [${JSON.stringify(trusted.publicFile)}] }`);
    expect(() => add(cfg, WLED4.file, 'wled', '0.14.4', sig)).toThrow(/not trusted/);
    expect(new ReleaseRepo(db).list()).toHaveLength(0);
  });

  it('refuses a product name with spaces', () => {
    expect(() => add(config('releases: { allowUnsigned: true }'), WLED3.file, 'soil probe', '1')).toThrow(/product "soil probe" is not valid/);
  });
});
