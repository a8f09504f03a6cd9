/**
 * The persisted state blob across firmware versions: an update started by firmware that stored the
 * version 1 blob (the simulator built from commit af72c50, before the blob carried its size) and
 * finished by this firmware, which migrates it; and a blob this firmware cannot read at all, where the
 * bootloader's PENDING_VERIFY state alone makes the new image self-test and confirm itself.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { ROOT } from '../unit/firmware/fw.ts';
import { readSlot, runDevice, worldPerTest, type World } from './device-harness.ts';

const OLD_COMMIT = 'af72c50';
const OLD_DIR = resolve(ROOT, `test/.tmp/firmware-${OLD_COMMIT}`);
const OLD_BIN = join(OLD_DIR, 'firmware/build/furrow-device');
const PAIR = CORPUS_PAIRS[0]!;
const w = worldPerTest();

/** The simulator as it was at OLD_COMMIT (state blob version 1), built once from git history. */
function buildOld(): void {
  if (existsSync(OLD_BIN)) return;
  rmSync(OLD_DIR, { recursive: true, force: true });
  mkdirSync(OLD_DIR, { recursive: true });
  try {
    const tar = execFileSync('git', ['-C', ROOT, 'archive', OLD_COMMIT, 'firmware'], { maxBuffer: 64 << 20 });
    execFileSync('tar', ['-x', '-C', OLD_DIR], { input: tar });
    execFileSync('make', ['-s', '-C', join(OLD_DIR, 'firmware'), 'build/furrow-device'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`cannot build the firmware of commit ${OLD_COMMIT} (needs the repository's git history, gcc, libssl-dev): ${String(err)}`);
  }
}

/** Runs the old firmware until the power cut right after it set the boot slot and stored TRIAL. */
async function oldFirmwareUntilReboot(world: World, dir: string): Promise<void> {
  const probe = await runDevice(world.deviceArgs(w.flash(), ['--power-cut-after', '1']), OLD_BIN);
  const armed = Number(probe.events.find((e) => e.event === 'power_cut')!.op) - 1;
  // twice: from the second update on, a fresh device's first check-in takes one 4.01 (its MAC counter
  // starts below the gateway's) and one more counter store, as in the run that is cut
  await runDevice(world.deviceArgs(w.flash()), OLD_BIN);
  const clean = await runDevice(world.deviceArgs(w.flash()), OLD_BIN);
  world.reports.length = 0;
  const reboot = Number(clean.events.find((e) => e.event === 'reboot')!.ops);
  // the next operation is the bootloader's otadata write (NEW -> PENDING_VERIFY): cut there
  const r = await runDevice(world.deviceArgs(dir, ['--power-cut-after', String(reboot + 1 - armed)]), OLD_BIN);
  expect(r.events.at(-1)!.event, r.stderr).toBe('power_cut');
  expect(r.events.at(-2)).toMatchObject({ event: 'reboot' });
}

describe('state blob migration', () => {
  beforeAll(() => buildOld(), 120_000);

  it('finishes an update that firmware with the version 1 blob started: migrates, confirms, reports booted once', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    const dir = w.flash();
    await oldFirmwareUntilReboot(world, dir);
    const v1 = readFileSync(join(dir, 'state.bin'));
    expect(v1.length).toBe(544);
    expect(v1.readUInt32LE(4)).toBe(1); // the 32-bit version word of layout 1
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.find((e) => e.event === 'boot')).toMatchObject({ detail: 'trial', a: 1 });
    expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(world.reports).toEqual([{ status: 'booted' }]);
    const v2 = readFileSync(join(dir, 'state.bin'));
    expect(v2.length).toBe(552);
    expect([v2.readUInt16LE(4), v2.readUInt16LE(6)]).toEqual([2, 552]);
    // what the old firmware knew is kept: the MAC counter went on (no 4.01 re-sync needed) and the
    // version it updated to is the one the device now checks in with
    expect(v2.readBigUInt64LE(16)).toBeGreaterThan(v1.readBigUInt64LE(16));
    expect(v2.subarray(28, 60).toString('latin1').replace(/\0.*$/s, '')).toBe('new');
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    const next = await runDevice(world.deviceArgs(dir));
    expect(next.events.find((e) => e.event === 'bootloader')).toMatchObject({ a: 1, detail: 'boot slot' });
  });

  it('still self-tests and confirms a new image when the blob is unreadable (other size), so it is not rolled back', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    const dir = w.flash();
    await oldFirmwareUntilReboot(world, dir);
    writeFileSync(join(dir, 'state.bin'), randomBytes(100));
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.find((e) => e.event === 'bootloader')).toMatchObject({ a: 1, detail: 'new image, pending verify' });
    expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(world.reports.map((x) => x.status)).toEqual(['booted']);
    const next = await runDevice(world.deviceArgs(dir));
    expect(next.events.find((e) => e.event === 'bootloader')).toMatchObject({ a: 1, detail: 'boot slot' });
  });
});
