import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FIRMWARE } from './fw.ts';

describe('firmware size on the ESP32-C3 (riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32 -Os)', () => {
  it('keeps the patch decoder under 8 KB and decoder + state machine under 8.5 KB of code, with no static RAM', () => {
    const out = execFileSync('make', ['-s', '-C', FIRMWARE, 'size'], { encoding: 'utf8' });
    console.log(out);
    const line = (what: string) => {
      const m = new RegExp(`${what}.*text (\\d+) data (\\d+) bss (\\d+)`).exec(out);
      if (!m) throw new Error(`make size printed no "${what}" line:\n${out}`);
      return { text: Number(m[1]), data: Number(m[2]), bss: Number(m[3]) };
    };
    const decoder = line('decoder \\(lzma \\+ patch\\)');
    expect(decoder.text).toBeLessThanOrEqual(8 * 1024);
    expect(decoder.data + decoder.bss).toBe(0); // all RAM is in the caller's struct furrow_patch
    // linked image (firmware/size/link.sh): calls inside it relaxed as on the device, calls out of it
    // (libc in ROM, crypto/CoAP/manifest, furrow_strerror) kept at full length
    const machine = line('decoder \\+ state machine \\(no crypto/CoAP\\)');
    // 8 KB until pointer prediction (format v2, +382 B); those bytes of flash, once, save ~4 KB of
    // airtime on every point-release update (src/delta/FORMAT.md section 10)
    expect(machine.text).toBeLessThanOrEqual(8.5 * 1024);
    expect(machine.data + machine.bss).toBe(0);
    expect(out).toMatch(/== linked images/);
    // decoder RAM on the target: struct furrow_patch (coders, windows, buffers), peak stack on top
    const ram = Number(/RAM ram_patch_decoder: (\d+) bytes/.exec(out)?.[1]);
    expect(ram).toBeGreaterThan(50_000);
    expect(ram).toBeLessThanOrEqual(64 * 1024 - 1024);
    const stack = /peak stack furrow_patch_process: (\d+) bytes/.exec(out);
    expect(Number(stack?.[1])).toBeGreaterThan(0);
    expect(Number(stack?.[1])).toBeLessThanOrEqual(1024);
  });
});
