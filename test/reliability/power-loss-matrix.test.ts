/**
 * Device power-loss matrix with the furrow-device simulator (firmware/host) through the e2e world of
 * test/e2e/device-harness.ts: on every corpus pair, one clean update tells where each phase starts and
 * ends (in flash/state operations); then the power is cut just before, at and just after every phase
 * boundary (check-in, manifest, download start, each chunk decoded, applied, slot switch, trial, reboot,
 * bootloader, confirm, report) and at random points inside every phase. After each cut the device is
 * powered again and must: boot an image that is byte for byte one of the two genuine images, finish
 * the update, run the new image, report it, and re-download at most one block.
 *
 * test/e2e/device-powercut.test.ts (firmware engineer) covers random cuts on one pair and runs of cuts
 * every few operations; this adds the systematic boundary matrix on all pairs.
 * CI: a cut exactly at every boundary (random cuts run in CI in device-powercut.test.ts); FURROW_TORTURE_LONG=1: ±1 around every
 * boundary and FURROW_MATRIX_RANDOM (default 6) random points per phase.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readSlot, runDevice, startWorld, type DeviceRun, type World } from '../e2e/device-harness.ts';
import { decodeBlock } from '../../src/coap/block.ts';
import { iterations, LONG, seed } from './settings.ts';

const RANDOM_PER_PHASE = iterations('FURROW_MATRIX_RANDOM', 1, 6) * (LONG || process.env.FURROW_MATRIX_RANDOM ? 1 : 0);
const BLOCK = 1024;

function rng(s: number): () => number {
  let x = s >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** Phase boundaries of a clean run, as operation counts from the start of the run, with their names. */
function boundaries(clean: DeviceRun): Array<{ op: number; name: string }> {
  const first = Number(clean.events[0]!.ops);
  const seen = new Map<number, string>();
  for (const e of clean.events) {
    const op = Number(e.ops) - first;
    if (op <= 0 || e.event === 'progress' || e.event === 'block') continue;
    const name = `${String(e.event)}${e.detail ? `:${String(e.detail)}` : ''}${e.event === 'chunk' ? `#${String(e.a)}` : ''}`;
    if (!seen.has(op)) seen.set(op, name);
  }
  return [...seen].map(([op, name]) => ({ op, name })).sort((a, b) => a.op - b.op);
}

describe('device power-loss matrix', () => {
  const tmp = tempDir('furrow-matrix-');
  afterAll(() => tmp.cleanup());
  const summary: string[] = [];
  afterAll(() => console.log(`power-loss matrix (seed ${seed()}):\n${summary.join('\n')}`));

  for (const pair of CORPUS_PAIRS) {
    it(`${pair.name}: boots a genuine image and finishes after a cut at every phase boundary and inside every phase`, async () => {
      const world: World = await startWorld({ from: pair.from, to: pair.to });
      try {
        const random = rng(seed() ^ pair.name.length);
        const clean = await runDevice(world.deviceArgs(join(tmp.dir, `${pair.from.replace(/\W/g, '_')}-clean`)));
        expect(clean.code, clean.stderr).toBe(0);
        const bounds = boundaries(clean);
        const total = Number(clean.events.at(-1)!.ops) - Number(clean.events[0]!.ops);
        const points = new Map<number, string>();
        for (const b of bounds) {
          points.set(b.op, `at ${b.name}`);
          if (LONG) {
            if (b.op > 1 && !points.has(b.op - 1)) points.set(b.op - 1, `before ${b.name}`);
            if (!points.has(b.op + 1)) points.set(b.op + 1, `after ${b.name}`);
          }
        }
        const edges = [0, ...bounds.map((b) => b.op)];
        for (let i = 0; i + 1 < edges.length; i++) {
          const lo = edges[i]! + 1;
          const hi = edges[i + 1]! - 1;
          if (hi - lo < 1) continue;
          for (let k = 0; k < RANDOM_PER_PHASE; k++) {
            const op = lo + Math.floor(random() * (hi - lo + 1));
            if (!points.has(op)) points.set(op, `inside ${bounds[i]!.name}`);
          }
        }
        const genuine = (b: Buffer) => b.equals(world.fromImage.subarray(0, b.length)) && b.length === world.fromImage.length ? 'old' : b.equals(world.toImage) ? 'new' : undefined;
        // Patch blocks the gateway answered, per run, by block number: a CoAP retransmission on a slow
        // machine answers the same block twice and must not count as a re-download.
        let blocks = new Set<number>();
        world.tamper = (pkt) => {
          const cf = pkt.options.find((o) => o.name === 'Content-Format')?.value;
          const b2 = pkt.options.find((o) => o.name === 'Block2')?.value;
          if (pkt.code === '2.05' && b2 && cf && cf.length === 1 && cf[0] === 42) blocks.add(decodeBlock(Buffer.from(b2))!.num);
          return pkt;
        };
        let n = 0;
        let cuts = 0;
        let maxResent = 0;
        const failures: string[] = [];
        for (const [op, label] of [...points].sort((a, b) => a[0] - b[0])) {
          const dir = join(tmp.dir, `${pair.from.replace(/\W/g, '_')}-${op}`);
          blocks = new Set();
          const cut = await runDevice(world.deviceArgs(dir, ['--power-cut-after', String(op)]));
          const where = `${pair.name} cut after op ${op} (${label})`;
          if (cut.events.some((e) => e.event === 'bricked')) failures.push(`${where}: bricked`);
          if (cut.events.at(-1)?.event === 'power_cut') cuts++;
          else failures.push(`${where}: the power cut did not happen (run ended with ${cut.code}: ${cut.stderr.slice(0, 200)})`);
          const before = blocks;
          blocks = new Set();
          const again = await runDevice(world.deviceArgs(dir));
          n++;
          const boot = again.events.find((e) => e.event === 'bootloader');
          if (!boot) {
            failures.push(`${where}: no image booted after the cut (${again.stderr.slice(0, 200)})`);
            continue;
          }
          // The slot booted right after the cut is never written while it runs: reading it after the run
          // gives exactly what the bootloader started.
          const slot = Number(boot.a);
          const bootedSize = slot === 0 ? world.fromImage.length : world.toImage.length;
          const booted = readSlot(dir, slot, Math.max(bootedSize, world.fromImage.length, world.toImage.length));
          const which = genuine(booted.subarray(0, world.fromImage.length)) ?? genuine(booted.subarray(0, world.toImage.length));
          if (!which) failures.push(`${where}: slot ${slot} booted after the cut holds neither genuine image`);
          if (again.code !== 0) failures.push(`${where}: update did not finish after the cut: ${again.code} ${again.stderr.slice(0, 200)}`);
          const lastBoot = [...again.events].reverse().find((e) => e.event === 'bootloader')!;
          if (!readSlot(dir, Number(lastBoot.a), world.toImage.length).equals(world.toImage)) failures.push(`${where}: the device does not run the new image at the end`);
          const resent = [...blocks].filter((b) => before.has(b)).length * BLOCK;
          maxResent = Math.max(maxResent, resent);
          if (resent > BLOCK) failures.push(`${where}: re-downloaded ${resent} bytes (more than one ${BLOCK}-byte block)`);
          if (failures.length > 5) break;
        }
        summary.push(`  ${pair.name}: ${cuts} cuts of ${n} points (${bounds.length} boundaries over ${total} ops, ${RANDOM_PER_PHASE} random per phase), max re-download ${maxResent} B, failures ${failures.length}`);
        expect(failures).toEqual([]);
        expect(cuts).toBe(n);
        expect(n).toBeGreaterThanOrEqual(bounds.length);
      } finally {
        await world.stop();
      }
    }, LONG ? 3_600_000 : 180_000);
  }
});
