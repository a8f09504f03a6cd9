/**
 * Every corpus pair (real ESP32 application images from ../shared/firmware-corpus) encodes into a furrow
 * patch that reproduces the new image byte for byte; one file so the slow encodes run once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { coderRamBytes, encodePatch, parsePatchHeader, StreamingApplier } from '../../src/delta/index.ts';

const CORPUS = resolve(process.env.FURROW_CORPUS ?? join(import.meta.dirname, '../../../shared/firmware-corpus'));
const read = (p: string) => readFileSync(join(CORPUS, p));

describe('furrow patches on the firmware corpus', () => {
  it.each([
    ['wled-esp32/0.14.3.bin', 'wled-esp32/0.14.4.bin', 0.06],
    ['nerdminer-tdisplay-s3/1.6.0.bin', 'nerdminer-tdisplay-s3/1.6.1.bin', 0.05],
    ['wled-esp32/0.14.4.bin', 'wled-esp32/0.15.0.bin', 0.27],
  ])('%s → %s round-trips byte-exact and stays small', async (a, b, maxRatio) => {
    const oldImg = read(a);
    const newImg = read(b);
    const patch = await encodePatch(oldImg, newImg);
    const h = parsePatchHeader(patch);
    expect(h.resultSha256).toBe(createHash('sha256').update(newImg).digest('hex'));
    expect(h.maxBodyLen).toBeLessThanOrEqual(65536);
    expect(h.coders.reduce((n, c) => n + coderRamBytes(c), 0)).toBeLessThanOrEqual(64 * 1024);
    expect(patch.length / newImg.length).toBeLessThan(maxRatio);
    // the applier used as a device would: 512-byte blocks, output written in order
    const applier = new StreamingApplier({ base: oldImg });
    const out = Buffer.alloc(newImg.length);
    let written = 0;
    for (let i = 0; i < patch.length; i += 512) {
      for (const o of applier.push(patch.subarray(i, i + 512))) {
        expect(o.offset).toBe(written);
        out.set(o.data, o.offset);
        written += o.data.length;
      }
    }
    applier.end();
    expect(written).toBe(newImg.length);
    expect(out.equals(newImg)).toBe(true);
  });

});
