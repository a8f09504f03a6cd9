import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_PAIRS, corpusPath, readCorpus } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { bin, buildFirmware, corpusPatch, events } from './fw.ts';

/**
 * The patch decoder on a 32-bit target: test/patch_cli.c built for rv32imc (the ESP32-C3's ISA) with
 * picolibc (firmware/rv32), run under qemu-riscv32 on the corpus patches. 32-bit size_t, long and
 * pointers, and picolibc's libc instead of glibc: what the host build cannot show.
 */
const DRIVER = bin('rv32/patch_cli');

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function flashDir(): string {
  const t = tempDir('furrow-rv32-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function applyRv32(dir: string, base: string, patch: string, extra: string[] = []) {
  const r = spawnSync('qemu-riscv32', [DRIVER, dir, base, patch, ...extra], { maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`qemu-riscv32 did not run (apt-get install -y qemu-user): ${r.error.message}`);
  const ev = events(r.stdout);
  return { status: r.status, ev, last: ev.at(-1) ?? {}, stderr: r.stderr.toString() };
}

function slot1(dir: string, size: number): Buffer {
  return readFileSync(join(dir, 'slot1.bin')).subarray(0, size);
}

describe('furrow patch decoder built for rv32imc with picolibc, run under qemu-riscv32', () => {
  beforeAll(() => buildFirmware('rv32'));

  it('is a 32-bit little-endian RISC-V executable, not a host binary', () => {
    const elf = readFileSync(DRIVER);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf[4]).toBe(1); // ELFCLASS32
    expect(elf[5]).toBe(1); // little-endian
    expect(elf.readUInt16LE(18)).toBe(0xf3); // EM_RISCV
    expect(elf.readUInt32LE(36) & 0x1).toBe(1); // EF_RISCV_RVC: compressed instructions, as rv32imc
  });

  for (const pair of CORPUS_PAIRS) {
    it(`applies ${pair.name} byte-exact into the passive slot`, async () => {
      const patch = await corpusPatch(pair.from, pair.to);
      const dir = flashDir();
      const r = applyRv32(dir, corpusPath(pair.from), patch);
      expect(r.last, r.stderr).toMatchObject({ event: 'done' });
      const want = readCorpus(pair.to);
      expect(Number(r.last.result_size)).toBe(want.length);
      expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
      // struct furrow_patch with 32-bit pointers: the decoder RAM `make size` reports for the ESP32-C3
      expect(Number(r.last.ram)).toBeLessThan(64 * 1024);
    });
  }

  it('applies a full image (base size 0) byte-exact', async () => {
    const patch = await corpusPatch(null, 'wled-esp32/0.14.4.bin');
    const dir = flashDir();
    expect(applyRv32(dir, '/dev/null', patch).last).toMatchObject({ event: 'done' });
    const want = readCorpus('wled-esp32/0.14.4.bin');
    expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
  });

  it('resumes after power cuts from the progress it stored and still ends byte-exact', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const patch = await corpusPatch(pair.from, pair.to);
    const dir = flashDir();
    const seen: string[] = [];
    let last: Record<string, unknown> = {};
    let lastOffset = 0;
    for (const cut of [700, 1500, 2600, 0]) {
      const r = applyRv32(dir, corpusPath(pair.from), patch, ['--block', '512', ...(cut ? ['--cut', String(cut)] : [])]);
      const resume = r.ev.find((e) => e.event === 'resume')!;
      expect(Number(resume.offset)).toBeGreaterThanOrEqual(lastOffset);
      lastOffset = Number(resume.offset);
      last = r.last;
      seen.push(String(last.event));
    }
    expect(seen).toEqual(['power_cut', 'power_cut', 'power_cut', 'done']);
    expect(lastOffset).toBeGreaterThan(0);
    const want = readCorpus(pair.to);
    expect(Buffer.compare(slot1(dir, want.length), want)).toBe(0);
  });

  it('refuses a chunk whose body was corrupted (its SHA-256 differs), before decoding it', async () => {
    const pair = CORPUS_PAIRS[0]!;
    const patch = Buffer.from(readFileSync(await corpusPatch(pair.from, pair.to)));
    const count = patch.readUInt32LE(84);
    patch[160 + 60 * count + 100] = patch[160 + 60 * count + 100]! ^ 0x01;
    const dir = flashDir();
    writeFileSync(join(dir, 'bad.patch'), patch);
    const r = applyRv32(join(dir, 'flash'), corpusPath(pair.from), join(dir, 'bad.patch'));
    expect(r.status).toBe(1);
    expect(r.last).toMatchObject({ event: 'error', message: 'chunk digest mismatch' });
  });

  it('reports a patch file it cannot read on stderr with exit status 2', () => {
    const dir = flashDir();
    const r = applyRv32(join(dir, 'flash'), corpusPath(CORPUS_PAIRS[0]!.from), join(dir, 'absent.patch'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot read ${corpusPath(CORPUS_PAIRS[0]!.from)} or ${join(dir, 'absent.patch')}`);
  });
});
