import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePatchHeader } from '../../../src/delta/format.ts';
import { CORPUS_PAIRS, corpusPath, readCorpus } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildFirmware, corpusPatch, events, run } from './fw.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function flashDir(): string {
  const t = tempDir('furrow-fw-');
  cleanups.push(t.cleanup);
  return t.dir;
}

/** Runs the C decoder on the host flash; base '/dev/null' = full image. */
function apply(dir: string, base: string, patch: string, extra: string[] = []) {
  const r = run('patch_cli', [dir, base, patch, ...extra]);
  const ev = events(r.stdout);
  return { status: r.status, ev, last: ev[ev.length - 1] ?? {}, stderr: r.stderr.toString() };
}

function slot1(dir: string, size: number): Buffer {
  return readFileSync(join(dir, 'slot1.bin')).subarray(0, size);
}

/** The trusted table digest (what the manifest carries) of an intact patch. */
function tableDigest(patch: Buffer): string {
  const count = patch.readUInt32LE(84);
  return createHash('sha256').update(patch.subarray(0, 128)).update(patch.subarray(160, 160 + 60 * count)).digest('hex');
}

describe('furrow patch decoder (C) on corpus patches made by the TypeScript encoder', () => {
  beforeAll(() => buildFirmware());

  for (const pair of CORPUS_PAIRS) {
    it(`applies ${pair.name} byte-exact into the passive slot`, async () => {
      const patch = await corpusPatch(pair.from, pair.to);
      // a v2 patch: the decoder's pointer prediction (FORMAT.md 5.2) is exercised on real firmware
      expect(parsePatchHeader(readFileSync(patch)).coders[1].transform).toBe(1);
      const dir = flashDir();
      const r = apply(dir, corpusPath(pair.from), patch);
      expect(r.last, r.stderr).toMatchObject({ event: 'done' });
      const want = readCorpus(pair.to);
      expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
      // decoder RAM: the whole struct furrow_patch, no heap
      expect(Number(r.last.ram)).toBeLessThanOrEqual(64 * 1024);
    });
  }

  it('applies a full image (base size 0) byte-exact', async () => {
    const patch = await corpusPatch(null, 'wled-esp32/0.14.4.bin');
    const dir = flashDir();
    expect(apply(dir, '/dev/null', patch).last).toMatchObject({ event: 'done' });
    const want = readCorpus('wled-esp32/0.14.4.bin');
    expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
  });

  it('resumes after power cuts at pseudo-random flash operations and still ends byte-exact', async () => {
    const pair = CORPUS_PAIRS[1]!; // the feature release: the most chunks and bytes
    const patch = await corpusPatch(pair.from, pair.to);
    const dir = flashDir();
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let cuts = 0;
    let lastOffset = 0;
    let done = false;
    for (let i = 0; i < 60 && !done; i++) {
      const r = apply(dir, corpusPath(pair.from), patch, ['--block', '512', '--cut', String(1 + Math.floor(rand() * 4000))]);
      const resume = r.ev.find((e) => e.event === 'resume')!;
      // progress never goes backwards: a cut loses at most the block in flight
      expect(Number(resume.offset)).toBeGreaterThanOrEqual(lastOffset);
      lastOffset = Number(resume.offset);
      if (r.last.event === 'power_cut') cuts++;
      else {
        expect(r.last, r.stderr).toMatchObject({ event: 'done' });
        done = true;
      }
    }
    expect(done).toBe(true);
    expect(cuts).toBeGreaterThan(2);
    const want = readCorpus(pair.to);
    expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
  });

  it('refuses a chunk whose body was corrupted, before decoding it', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const patch = Buffer.from(readFileSync(await corpusPatch(pair.from, pair.to)));
    const count = patch.readUInt32LE(84);
    patch[160 + 60 * count + 100] = patch[160 + 60 * count + 100]! ^ 0x01; // a byte in chunk 0's body
    const dir = flashDir();
    const f = join(dir, 'bad.patch');
    writeFileSync(f, patch);
    const r = apply(join(dir, 'flash'), corpusPath(pair.from), f);
    expect(r.status).toBe(1);
    expect(r.last).toMatchObject({ event: 'error', message: 'chunk digest mismatch' });
  });

  it('refuses a patch whose chunk table differs from the signed table digest', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const good = readFileSync(await corpusPatch(pair.from, pair.to));
    const patch = Buffer.from(good);
    patch.writeUInt32LE(patch.readUInt32LE(160 + 16) + 1, 160 + 16); // chunk 0 control_comp_len
    const dir = flashDir();
    const f = join(dir, 'bad.patch');
    writeFileSync(f, patch);
    const r = apply(join(dir, 'flash'), corpusPath(pair.from), f, ['--table-digest', tableDigest(good)]);
    expect(r.last).toMatchObject({ event: 'error', message: 'chunk table digest differs from the manifest' });
  });

  it('refuses a patch made for another base image before writing the passive slot', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const dir = flashDir();
    const r = apply(dir, corpusPath('wled-esp32/0.15.0.bin'), await corpusPatch(pair.from, pair.to));
    expect(r.last).toMatchObject({ event: 'error', message: 'patch base is not the running image', offset: 512 });
    // the passive slot is still erased flash
    expect(slot1(dir, 4096).every((b) => b === 0xff)).toBe(true);
  });

  it('refuses a patch whose chunk bodies do not fit the staging partition', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const r = apply(flashDir(), corpusPath(pair.from), await corpusPatch(pair.from, pair.to), ['--staging-size', '0x8000']);
    expect(r.last).toMatchObject({ event: 'error', message: 'does not fit in the slot or staging area' });
  });

  it('refuses a header with an unknown format version', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const patch = Buffer.from(readFileSync(await corpusPatch(pair.from, pair.to)));
    patch.writeUInt16LE(3, 4);
    const dir = flashDir();
    const f = join(dir, 'v2.patch');
    writeFileSync(f, patch);
    expect(apply(join(dir, 'flash'), corpusPath(pair.from), f).last).toMatchObject({ event: 'error', message: 'not a furrow patch of a supported version' });
  });
});
