import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCorpus } from '../../helpers/corpus.ts';
import { buildFirmware, run } from './fw.ts';

/** xz-utils' raw LZMA1 encoder: the reference the C decoder must agree with. */
function xz(data: Buffer, lc: number, lp: number, pb: number, dict: number, preset = '6'): Buffer {
  return execFileSync('xz', ['--format=raw', `--lzma1=preset=${preset},lc=${lc},lp=${lp},pb=${pb},dict=${dict}`, '-c'], { input: data, maxBuffer: 64 << 20 });
}

function decode(stream: Buffer, lc: number, lp: number, pb: number, dict: number, outSize?: number) {
  const args = [lc, lp, pb, dict].map(String);
  if (outSize !== undefined) args.push(String(outSize));
  return run('lzma_cli', args, stream);
}

describe('LZMA1 decoder (C, from the LZMA specification)', () => {
  beforeAll(() => buildFirmware());

  const firmware = readCorpus('wled-esp32/0.14.3.bin').subarray(0, 400_000);
  const cases: Array<[string, Buffer, number, number, number, number]> = [
    ['firmware, furrow defaults lc=0 lp=0 pb=0 16 KiB', firmware, 0, 0, 0, 16384],
    ['firmware, xz defaults lc=3 lp=0 pb=2 64 KiB', firmware, 3, 0, 2, 65536],
    ['firmware, lc=1 lp=2 pb=1 4 KiB', firmware, 1, 2, 1, 4096],
    ['text, lc=4 lp=0 pb=4 8 KiB', Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(3000)), 4, 0, 4, 8192],
    ['incompressible random bytes', randomBytes(50_000), 0, 0, 0, 4096],
    ['a single byte', Buffer.from([0x42]), 0, 0, 0, 4096],
    ['long zero runs (rep matches)', Buffer.concat([Buffer.alloc(70_000), Buffer.from('x'), Buffer.alloc(5000)]), 0, 0, 0, 16384],
  ];
  for (const [name, data, lc, lp, pb, dict] of cases) {
    it(`decodes xz output byte-exact: ${name}`, () => {
      const r = decode(xz(data, lc, lp, pb, dict), lc, lp, pb, dict);
      expect(r.stderr.toString()).not.toMatch(/error/);
      expect(r.status).toBe(0);
      expect(Buffer.compare(r.stdout, data)).toBe(0);
    });
  }

  it('stops at a declared output size without needing the end marker', () => {
    const data = firmware.subarray(0, 100_000);
    const r = decode(xz(data, 0, 0, 0, 16384), 0, 0, 0, 16384, 60_000);
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, data.subarray(0, 60_000))).toBe(0);
  });

  it('refuses an end marker before the declared size', () => {
    const data = firmware.subarray(0, 10_000);
    const r = decode(xz(data, 0, 0, 0, 4096), 0, 0, 0, 4096, 10_001);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/compressed stream is corrupt/);
  });

  it('reports a truncated stream as corrupt instead of reading past the end', () => {
    const s = xz(firmware.subarray(0, 50_000), 0, 0, 0, 16384);
    const r = decode(s.subarray(0, s.length >> 1), 0, 0, 0, 16384);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/corrupt/);
  });

  it('refuses a stream whose first byte is not zero', () => {
    const s = Buffer.from(xz(firmware.subarray(0, 1000), 0, 0, 0, 4096));
    s[0] = 1;
    expect(decode(s, 0, 0, 0, 4096).status).toBe(1);
  });

  it('refuses a match distance beyond a dictionary smaller than the encoder used', () => {
    // the same 20 KB block twice: the second copy is a match 20 KB back, beyond a 4 KiB window
    const block = randomBytes(20_000);
    const s = xz(Buffer.concat([block, block]), 0, 0, 0, 65536);
    const r = decode(s, 0, 0, 0, 4096);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/corrupt/);
  });

  it('rejects out-of-range parameters (lc > 8)', () => {
    const r = decode(xz(Buffer.from('abc'), 0, 0, 0, 4096), 9, 0, 0, 4096);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/parameters out of range/);
  });

  it('needs at most 21 KiB for the furrow diff coder (probabilities + 16 KiB window)', () => {
    const r = decode(xz(Buffer.from('abc'), 0, 0, 0, 16384), 0, 0, 0, 16384);
    const ram = Number(/ram (\d+)/.exec(r.stderr.toString())?.[1]);
    expect(ram).toBeGreaterThan(16384);
    expect(ram).toBeLessThanOrEqual(21 * 1024 + 512);
  });
});
