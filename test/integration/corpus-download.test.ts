/**
 * `npm run corpus` against a real HTTP server on 127.0.0.1 standing in for raw.githubusercontent.com
 * (FURROW_CORPUS_BASE_URL): every file verified, good files kept, corrupt ones refused or replaced, nothing
 * partial left under an image's name.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { corpusRefusal } from '../corpus/check.ts';
import { fillCorpus, sourceUrl, type CorpusEvent } from '../corpus/download.ts';
import { cacheDir, locateCorpus, REPO_ROOT } from '../corpus/locate.ts';
import { loadManifest, type CorpusImage } from '../corpus/manifest.ts';
import { CORPUS_DIR, CORPUS_IMAGES, readCorpus } from '../helpers/corpus.ts';
import { tempDir } from '../helpers/tmp.ts';

type Fault = 'corrupt' | 'truncate' | 'extra' | 'missing' | 'stall';

/** Serves `files` (decoded URL path → bytes) like a raw-file host; `faults` misbehave per path. */
class Mirror {
  readonly requests: string[] = [];
  readonly faults = new Map<string, Fault>();
  private server!: Server;
  url = '';

  constructor(private readonly files: Map<string, Buffer>) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      this.requests.push(path);
      const body = this.files.get(path);
      const fault = this.faults.get(path);
      if (!body || fault === 'missing') return void res.writeHead(404).end('not found');
      if (fault === 'stall') return void res.writeHead(200).write(body.subarray(0, 1000));
      let out = body;
      if (fault === 'corrupt') (out = Buffer.from(body)).writeUInt8(out[500]! ^ 0xff, 500);
      if (fault === 'truncate') out = body.subarray(0, body.length - 100);
      if (fault === 'extra') out = Buffer.concat([body, Buffer.alloc(100)]);
      // Chunked (no Content-Length) for the length faults, so the client's own byte count must catch them.
      if (fault === 'truncate' || fault === 'extra') res.writeHead(200);
      else res.writeHead(200, { 'content-length': out.length });
      res.end(out);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const pathOf = (img: CorpusImage) => decodeURIComponent(new URL(img.url).pathname);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const partFiles = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.part'));

/** Small made-up images shaped like manifest entries, one under a folder with spaces as NerdMiner's. */
function fakeImages(): Array<{ img: CorpusImage; body: Buffer }> {
  return ['a/1.0.0.bin', 'b with space/2.0.0.bin', 'c/3.0.0.bin'].map((p, i) => {
    const body = randomBytes(200_000 + i * 1000);
    const file = `prod-${i}/${i}.0.0.bin`;
    const url = `https://raw.githubusercontent.com/owner/repo/${'ab'.repeat(20)}/${p.split('/').map(encodeURIComponent).join('/')}`;
    return { img: { file, product: `prod-${i}`, version: `${i}.0.0`, chip: 'esp32', size: body.length, sha256: sha(body), url, license: 'MIT' }, body };
  });
}

describe('corpus downloader', () => {
  const fakes = fakeImages();
  const images = fakes.map((f) => f.img);
  const mirror = new Mirror(new Map(fakes.map((f) => [pathOf(f.img), f.body])));
  const tmps: Array<ReturnType<typeof tempDir>> = [];
  const fresh = () => {
    const t = tempDir('furrow-corpus-');
    tmps.push(t);
    return t.dir;
  };
  beforeAll(() => mirror.start());
  afterAll(() => mirror.stop());
  afterEach(() => {
    mirror.faults.clear();
    mirror.requests.length = 0;
    for (const t of tmps.splice(0)) t.cleanup();
  });

  it('downloads every image from the base URL, percent-encoded paths included, and reports progress', async () => {
    const dir = fresh();
    const events: CorpusEvent[] = [];
    const r = await fillCorpus({ dir, images, baseUrl: mirror.url, onEvent: (e) => events.push(e) });
    expect(r).toEqual({ kept: [], downloaded: images.map((i) => i.file), failed: [] });
    for (const f of fakes) expect(readFileSync(join(dir, f.img.file)).equals(f.body)).toBe(true);
    expect(mirror.requests).toContain('/owner/repo/' + 'ab'.repeat(20) + '/b with space/2.0.0.bin');
    const progress = events.filter((e) => e.kind === 'progress' && e.file === images[1]!.file).map((e) => (e as { bytes: number }).bytes);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(images[1]!.size);
    expect(partFiles(dir)).toEqual([]);
  });

  it('keeps files already there with the right sha256 and fetches nothing for them', async () => {
    const dir = fresh();
    await fillCorpus({ dir, images, baseUrl: mirror.url });
    mirror.requests.length = 0;
    const r = await fillCorpus({ dir, images, baseUrl: mirror.url });
    expect(r.kept).toEqual(images.map((i) => i.file));
    expect(mirror.requests).toEqual([]);
  });

  it('replaces a file whose bytes are wrong with a verified download', async () => {
    const dir = fresh();
    const target = join(dir, images[0]!.file);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, 'not the image');
    const events: CorpusEvent[] = [];
    const r = await fillCorpus({ dir, images, baseUrl: mirror.url, onEvent: (e) => events.push(e) });
    expect(events).toContainEqual({ kind: 'replacing', file: images[0]!.file, actual: sha(Buffer.from('not the image')) });
    expect(r.downloaded).toContain(images[0]!.file);
    expect(readFileSync(target).equals(fakes[0]!.body)).toBe(true);
  });

  it('refuses a corrupted download, naming the file, the expected and the actual digest, and keeps nothing of it', async () => {
    const dir = fresh();
    mirror.faults.set(pathOf(images[1]!), 'corrupt');
    const r = await fillCorpus({ dir, images, baseUrl: mirror.url });
    const bad = Buffer.from(fakes[1]!.body);
    bad.writeUInt8(bad[500]! ^ 0xff, 500);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.message).toContain(images[1]!.file);
    expect(r.failed[0]!.message).toContain(`expected ${images[1]!.sha256}, got ${sha(bad)}`);
    expect(existsSync(join(dir, images[1]!.file))).toBe(false);
    expect(r.downloaded).toEqual([images[0]!.file, images[2]!.file]);
    expect(partFiles(dir)).toEqual([]);
  });

  it.each([
    ['truncate', /ended after \d+ of \d+ bytes/],
    ['extra', /sent more than the \d+ bytes the manifest lists/],
    ['missing', /HTTP 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/owner\/repo\/.*\/c\/3\.0\.0\.bin/],
  ] as const)('refuses a %s response with a message naming the file', async (fault, message) => {
    const dir = fresh();
    mirror.faults.set(pathOf(images[2]!), fault);
    const r = await fillCorpus({ dir, images, baseUrl: mirror.url });
    expect(r.failed.map((f) => f.file)).toEqual([images[2]!.file]);
    expect(r.failed[0]!.message).toMatch(message);
    expect(r.failed[0]!.message.startsWith(`${images[2]!.file}: `)).toBe(true);
    expect(existsSync(join(dir, images[2]!.file))).toBe(false);
    expect(partFiles(dir)).toEqual([]);
  });

  it('gives up on a server that stops sending, after the idle timeout', async () => {
    const dir = fresh();
    mirror.faults.set(pathOf(images[0]!), 'stall');
    const r = await fillCorpus({ dir, images: [images[0]!], baseUrl: mirror.url, idleTimeoutMs: 300 });
    expect(r.failed[0]!.message).toMatch(/nothing received for 0\.3 s/);
    expect(partFiles(dir)).toEqual([]);
  });

  it('says which URL it cannot reach when nothing listens there', async () => {
    const dead = new Mirror(new Map());
    await dead.start();
    const url = dead.url;
    await dead.stop();
    const r = await fillCorpus({ dir: fresh(), images: [images[0]!], baseUrl: url });
    expect(r.failed[0]!.message).toMatch(new RegExp(`cannot download ${url}/owner/repo/.*: ECONNREFUSED`));
  });

  it('rejects a base URL that is not http(s)', () => {
    expect(() => sourceUrl(images[0]!, 'ftp://mirror/x')).toThrow(/only http and https/);
    expect(() => sourceUrl(images[0]!, 'not a url')).toThrow(/FURROW_CORPUS_BASE_URL "not a url" is not a URL/);
    expect(sourceUrl(images[1]!, 'https://mirror.example/furrow/')).toBe(`https://mirror.example/furrow/owner/repo/${'ab'.repeat(20)}/b%20with%20space/2.0.0.bin`);
  });
});

describe('corpus location', () => {
  it('takes FURROW_CORPUS first, then ../shared/firmware-corpus beside the repository, then the user cache', () => {
    expect(locateCorpus({ FURROW_CORPUS: '/x/corpus', HOME: '/home/u' })).toEqual({ dir: '/x/corpus', source: 'FURROW_CORPUS' });
    const beside = join(REPO_ROOT, '../shared/firmware-corpus');
    expect(locateCorpus({ HOME: '/home/u' })).toEqual(existsSync(beside) ? { dir: beside, source: '../shared' } : { dir: '/home/u/.cache/furrow/firmware-corpus', source: 'cache' });
  });

  it('puts the cache under an absolute XDG_CACHE_HOME and ignores a relative one', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/var/cache/me', HOME: '/home/u' })).toBe('/var/cache/me/furrow/firmware-corpus');
    expect(cacheDir({ XDG_CACHE_HOME: 'rel/cache', HOME: '/home/u' })).toBe('/home/u/.cache/furrow/firmware-corpus');
  });
});

describe('corpus manifest', () => {
  const good = JSON.parse(readFileSync(join(REPO_ROOT, 'test/corpus/manifest.json'), 'utf8')) as { images: Array<Record<string, unknown>>; pairs: Array<Record<string, unknown>> };
  const tmp = tempDir('furrow-manifest-');
  afterAll(() => tmp.cleanup());
  const load = (m: unknown) => {
    const f = join(tmp.dir, 'manifest.json');
    writeFileSync(f, JSON.stringify(m));
    return () => loadManifest(f);
  };

  it('lists raw GitHub URLs at pinned commits, spaces percent-encoded', () => {
    for (const img of loadManifest().images) {
      expect(img.url).toMatch(/^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[0-9a-f]{40}\/[^ ]+$/);
    }
  });

  it.each([
    ['a digest that is not 64 hex digits', (m: typeof good) => (m.images[0]!.sha256 = 'abc'), /images\.0\.sha256: 64 lowercase hex digits/],
    ['a file path climbing out of the corpus', (m: typeof good) => (m.images[0]!.file = '../x.bin'), /images\.0\.file: a relative path/],
    ['an image listed twice', (m: typeof good) => (m.images[1]!.file = m.images[0]!.file), /images\.1\.file: wled-esp32\/0\.14\.3\.bin is listed twice/],
    ['a pair naming an unknown image', (m: typeof good) => (m.pairs[0]!.to = 'nope/1.bin'), /pairs\.0\.to: nope\/1\.bin is not one of the images/],
    ['an unknown key', (m: typeof good) => (m.images[0]!.sha = 'x'), /images\.0: Unrecognized key/],
  ])('rejects %s, naming the file and the field', (_what, spoil, message) => {
    const m = structuredClone(good);
    spoil(m);
    expect(load(m)).toThrow(message);
    expect(load(m)).toThrow(join(tmp.dir, 'manifest.json'));
  });
});

describe('npm run corpus', () => {
  const tmp = tempDir('furrow-corpus-cli-');
  // The real manifest's images, served from the corpus this run uses.
  const mirror = new Mirror(new Map(CORPUS_IMAGES.map((img) => [pathOf(img), readCorpus(img.file)])));
  beforeAll(() => mirror.start());
  afterAll(async () => {
    await mirror.stop();
    tmp.cleanup();
  });

  const run = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stderr: string }>((done) => {
      const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/corpus/main.ts')], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('exit', (code) => done({ code, stderr }));
    });

  it('fills FURROW_CORPUS with every manifest image, refusing a corrupted one, and completes it on the next run', async () => {
    const dir = join(tmp.dir, 'corpus');
    const env = { FURROW_CORPUS: dir, FURROW_CORPUS_BASE_URL: mirror.url };
    const victim = CORPUS_IMAGES.find((i) => i.url.includes('%20'))!;
    mirror.faults.set(pathOf(victim), 'corrupt');
    const first = await run(env);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(new RegExp(`FAILED +${victim.file} `));
    expect(first.stderr).toMatch(new RegExp(`1 of ${CORPUS_IMAGES.length} images failed .*:\n  ${victim.file}: sha256 mismatch: expected ${victim.sha256}, got [0-9a-f]{64}`));
    expect(existsSync(join(dir, victim.file))).toBe(false);
    expect(partFiles(dir)).toEqual([]);

    mirror.faults.clear();
    mirror.requests.length = 0;
    const second = await run(env);
    expect(second.stderr).toMatch(`done: 1 downloaded, ${CORPUS_IMAGES.length - 1} already there`);
    expect(second.code).toBe(0);
    expect(mirror.requests).toEqual([pathOf(victim)]);
    for (const img of CORPUS_IMAGES) expect(sha(readFileSync(join(dir, img.file)))).toBe(img.sha256);
  });

  it('exits 2 on a base URL it cannot use', async () => {
    const r = await run({ FURROW_CORPUS: join(tmp.dir, 'unused'), FURROW_CORPUS_BASE_URL: 'gopher://x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FURROW_CORPUS_BASE_URL gopher:\/\/x: only http and https are supported/);
    expect(existsSync(join(tmp.dir, 'unused'))).toBe(false);
  });
});

describe('a test run without the corpus', () => {
  const tmp = tempDir('furrow-no-corpus-');
  afterAll(() => tmp.cleanup());

  it('says nothing when every image is there', async () => {
    expect(await corpusRefusal({ FURROW_CORPUS: CORPUS_DIR })).toBeUndefined();
  });

  it('names the directory and `npm run corpus` when the directory is empty', async () => {
    const lines = (await corpusRefusal({ FURROW_CORPUS: tmp.dir }))!;
    expect(lines).toEqual([
      `furrow tests need the firmware corpus (${CORPUS_IMAGES.length} real ESP32 images, test/corpus/manifest.json): none of them is in ${tmp.dir} (FURROW_CORPUS).`,
      'Run `npm run corpus` to download and verify them into FURROW_CORPUS, or unset FURROW_CORPUS.',
    ]);
  });

  it('lists a corrupt image with both digests, and each missing one', async () => {
    const dir = join(tmp.dir, 'partial');
    const [good, bad] = [CORPUS_IMAGES[0]!, CORPUS_IMAGES[1]!];
    mkdirSync(join(dir, dirname(good.file)), { recursive: true });
    writeFileSync(join(dir, good.file), readCorpus(good.file));
    writeFileSync(join(dir, bad.file), 'short');
    const lines = (await corpusRefusal({ FURROW_CORPUS: dir }))!;
    expect(lines[0]).toContain(`${CORPUS_IMAGES.length - 1} of them missing or corrupt in ${dir} (FURROW_CORPUS)`);
    expect(lines).toContain(`  ${bad.file}: corrupt, sha256 ${sha(Buffer.from('short'))}, expected ${bad.sha256}`);
    expect(lines).toContain(`  ${CORPUS_IMAGES[2]!.file}: missing`);
    expect(lines.join('\n')).not.toContain(good.file + ':');
  });

  it('stops vitest before any test file with that one message and exit code 1', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((done) => {
      const p = spawn(process.execPath, [join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'test/unit/release/esp-image.test.ts'], {
        cwd: REPO_ROOT,
        env: { ...process.env, FURROW_CORPUS: tmp.dir, NO_COLOR: '1', CI: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (out += c.toString()));
      p.on('exit', (code) => done({ code, out }));
    });
    expect(r.code).toBe(1);
    expect(r.out.match(/furrow tests need the firmware corpus/g)).toHaveLength(1);
    expect(r.out).toContain('Run `npm run corpus`');
    expect(r.out).not.toMatch(/No test files found|Test Files|Error:|✓|×/);
  });
});
