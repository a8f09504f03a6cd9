/**
 * The real ESP-IDF port (firmware/components/furrow_ota/port/esp_idf/furrow_port_esp.c, with mbedTLS)
 * compiled with host gcc against the host model of the ESP-IDF APIs (firmware/test/esp_idf/: the same
 * argument checks, error returns and asserts as ESP-IDF v5.5.3) as build/furrow-device-esp, driven
 * through whole updates against the real gateway: otadata, bootloader and NVS are the model's.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS_PAIRS, readCorpus } from '../helpers/corpus.ts';
import { ROOT } from '../unit/firmware/fw.ts';
import { readSlot, runDevice, startWorld, worldPerTest, type DeviceRun } from './device-harness.ts';

const ESP = 'furrow-device-esp';
const PAIR = CORPUS_PAIRS[0]!;
const w = worldPerTest();

const run = (args: string[]) => runDevice(args, ESP);
const noViolation = (r: DeviceRun) => expect(r.stderr).not.toMatch(/NOR violation|Assertion|abort/i);
const opsOf = (r: DeviceRun, event: string) => Number(r.events.find((e) => e.event === event)?.ops);

describe('the ESP-IDF port on the host model of ESP-IDF', () => {
  it('runs a whole update: writes the passive slot, boots it pending verify, confirms it and reports booted', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    const dir = w.flash();
    const r = await run(world.deviceArgs(dir));
    noViolation(r);
    expect(r.code, `${r.stderr}\n${JSON.stringify(r.events.slice(-5))}`).toBe(0);
    const boots = r.events.filter((e) => e.event === 'bootloader');
    expect(boots.map((e) => e.a)).toEqual([0, 1]);
    expect(boots[1]!.detail).toBe('new image, pending verify');
    expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.reports.map((x) => x.status)).toEqual(['booted']);
    // the next power-up still boots the new image: it was confirmed (ESP_OTA_IMG_VALID)
    const again = await run(world.deviceArgs(dir));
    expect(again.events.find((e) => e.event === 'bootloader')).toMatchObject({ a: 1, detail: 'otadata' });
  });

  it('rolls back through esp_ota_mark_app_invalid_rollback_and_reboot when the self-test fails', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    const dir = w.flash();
    const r = await run(world.deviceArgs(dir, ['--fail-self-test']));
    noViolation(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.some((e) => e.event === 'restart')).toBe(true);
    expect(r.events.filter((e) => e.event === 'bootloader').map((e) => e.a)).toEqual([0, 1, 0]);
    // then the same patch, offered again, is refused at its manifest: that image failed before
    expect(world.reports).toEqual([
      { status: 'rolled_back', reason: 'self-test failed' },
      { status: 'failed', reason: 'manifest: this image failed its self-test before' },
    ]);
  });

  it('retries a failed NVS write (transient) with backoff and still completes without reporting a failure', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    const clean = await run(world.deviceArgs(w.flash()));
    expect(clean.code).toBe(0);
    world.reports.length = 0;
    // a block's state store in the middle of the download: the op after the 40th "state"-free block
    const start = Number(clean.events[0]!.ops);
    const chunk = opsOf(clean, 'chunk');
    const dir = w.flash();
    const r = await run(world.deviceArgs(dir, ['--fail-op', String(chunk + 1 - start + 1)]));
    noViolation(r);
    expect(r.events.some((e) => e.event === 'flash_error')).toBe(true);
    const sleep = r.events.find((e) => e.event === 'sleep');
    expect(sleep, JSON.stringify(r.events.filter((e) => e.event !== 'chunk').slice(0, 20))).toMatchObject({ detail: 'download', a: 60 });
    expect(r.events.some((e) => e.event === 'refused')).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.reports.map((x) => x.status)).toEqual(['booted']);
  });

  it('retries a single 4.04 answer to a patch block instead of refusing the patch', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    let hit = 0;
    world.tamper = (pkt) => {
      const block2 = pkt.options.find((o) => o.name === 'Block2');
      if (pkt.code === '2.05' && block2 && pkt.payload.length > 0 && ++hit === 20) return { ...pkt, code: '4.04', payload: Buffer.alloc(0) };
      return pkt;
    };
    const dir = w.flash();
    const r = await run(world.deviceArgs(dir));
    noViolation(r);
    expect(hit).toBeGreaterThan(20);
    expect(r.events.some((e) => e.event === 'refused')).toBe(false);
    expect(r.events.find((e) => e.event === 'sleep')).toMatchObject({ detail: 'download', a: 60 });
    expect(r.code, r.stderr).toBe(0);
    expect(world.reports.map((x) => x.status)).toEqual(['booted']);
  });

  it('survives a power cut at each of the last 25 operations of apply and at every operation of the first boot', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to });
    // the op numbers of a clean update as every later one runs: a fresh device's MAC counter starts
    // below the gateway's, so from the second update on its first check-in takes one 4.01 and one
    // more counter store
    await run(world.deviceArgs(w.flash()));
    const clean = await run(world.deviceArgs(w.flash()));
    expect(clean.code).toBe(0);
    // operations are counted from the start of the process (factory flashing included): a cut after
    // N counts from where the device armed it, the first event's ops minus the bootloader's writes
    const probe = await run(world.deviceArgs(w.flash(), ['--power-cut-after', '1']));
    const armed = Number(probe.events.find((e) => e.event === 'power_cut')!.op) - 1;
    const applied = opsOf(clean, 'applied');
    const reported = opsOf(clean, 'reported');
    const points: number[] = [];
    for (let op = applied - 24; op <= applied; op++) points.push(op);
    // from the image verify through set_boot_partition, the bootloader, the trial and the report
    for (let op = applied + 1; op <= reported + 1; op++) points.push(op);
    expect(points.length).toBeGreaterThan(30);
    world.reports.length = 0;
    const phases = new Map<string, number>();
    for (const op of points) {
      const dir = w.flash();
      const before = world.reports.length;
      const cut = await run(world.deviceArgs(dir, ['--power-cut-after', String(op - armed)]));
      noViolation(cut);
      expect(cut.events.at(-1)!.event, `cut at op ${op}: ${cut.stderr}`).toBe('power_cut');
      // the last point is the store of IDLE after the booted report went out
      if (op === points.at(-1)) expect(cut.events.at(-2)).toMatchObject({ event: 'state', detail: 'idle' });
      const phase = [...cut.events].reverse().find((e) => e.event === 'state' || e.event === 'bootloader' || e.event === 'reboot');
      const key = String(phase?.event === 'state' ? phase.detail : phase?.event);
      phases.set(key, (phases.get(key) ?? 0) + 1);
      const r = await run(world.deviceArgs(dir));
      noViolation(r);
      expect(r.events.some((e) => e.event === 'bricked'), `cut at op ${op}`).toBe(false);
      expect(r.code, `cut at op ${op}: ${r.stderr} ${JSON.stringify(r.events.slice(-4))}`).toBe(0);
      expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage), `cut at op ${op}`).toBe(0);
      // the new image stays booted after one more power-up: it was confirmed, not rolled back
      const next = await run(world.deviceArgs(dir));
      expect(next.events.find((e) => e.event === 'bootloader'), `cut at op ${op}`).toMatchObject({ a: 1 });
      // one result per update: the gateway drops a repeated booted report after a cut
      expect(world.reports.slice(before).map((x) => x.status), `cut at op ${op}`).toEqual(['booted']);
    }
    console.log(`ESP port cut sweep: ${points.length} cut points (ops ${points[0]}..${points.at(-1)}), by phase ${JSON.stringify(Object.fromEntries(phases))}`);
  }, 300_000);

  it('a device whose power cuts come faster than one 1 MiB chunk apply never finishes; with 64 KiB chunks (delta.chunkBytes) it does', async () => {
    // WLED 0.14.3->0.14.4: chunk 0 writes 933,888 bytes (228 sector erases + 3,648 page writes), more
    // than the 1,500 flash/state operations the power lasts each time
    const CUT = '1500';
    const cuts = async (chunkSize: number | undefined, runs: number) => {
      const world = await startWorld({ from: PAIR.from, to: PAIR.to, ...(chunkSize ? { chunkSize } : {}) });
      const dir = w.flash();
      let chunks = 0;
      try {
      for (let i = 0; i < runs; i++) {
        const r = await run(world.deviceArgs(dir, ['--power-cut-after', CUT]));
        noViolation(r);
        expect(r.events.some((e) => e.event === 'bricked')).toBe(false);
        chunks += r.events.filter((e) => e.event === 'chunk').length;
        if (r.events.at(-1)!.event !== 'power_cut') {
          expect(r.code, r.stderr).toBe(0);
          const done = Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage) === 0;
          return { finished: done && world.reports.some((x) => x.status === 'booted'), runs: i + 1, chunks };
        }
      }
      return { finished: false, runs, chunks };
      } finally {
        await world.stop();
      }
    };
    const big = await cuts(undefined, 8);
    expect(big).toEqual({ finished: false, runs: 8, chunks: 0 });
    const small = await cuts(64 * 1024, 80);
    expect(small.finished).toBe(true);
    expect(small.chunks).toBeGreaterThan(15);
    console.log(`power every ${CUT} ops: 1 MiB chunks: no chunk applied in ${big.runs} power-ups; 64 KiB chunks: done after ${small.runs} power-ups`);
  }, 300_000);
});

/**
 * An ESP32 image as a release built with CONFIG_BOOTLOADER_APP_SECURE_VERSION=n: its esp_app_desc_t
 * (offset 32) says n, the XOR checksum and the appended SHA-256 are redone, so it still verifies.
 * Written under test/.tmp, named by the original's digest, so the patch cache keyed by path stays right.
 */
function withSecureVersion(corpusFile: string, n: number): string {
  const img = Buffer.from(readCorpus(corpusFile));
  const digest = createHash('sha256').update(img).digest('hex').slice(0, 16);
  const file = resolve(ROOT, 'test/.tmp/esp-secure-version', `${digest}-sv${n}.bin`);
  if (existsSync(file)) return file;
  expect(img.readUInt32LE(32)).toBe(0xabcd5432); // ESP_APP_DESC_MAGIC_WORD
  let pos = 24;
  for (let s = 0; s < img[1]!; s++) pos += 8 + img.readUInt32LE(pos + 4);
  const csum = ((pos + 16) & ~15) - 1;
  const old = img.subarray(36, 40);
  const neu = Buffer.alloc(4);
  neu.writeUInt32LE(n);
  for (let i = 0; i < 4; i++) img[csum] = img[csum]! ^ old[i]! ^ neu[i]!;
  neu.copy(img, 36);
  if (img[23] === 1) createHash('sha256').update(img.subarray(0, csum + 1)).digest().copy(img, csum + 1);
  mkdirSync(resolve(file, '..'), { recursive: true });
  writeFileSync(`${file}.${process.pid}.tmp`, img);
  renameSync(`${file}.${process.pid}.tmp`, file);
  return file;
}

/** A flash directory whose model eFuse secure version is already burned to n. */
function flashWithEfuse(n: number): string {
  const dir = w.flash();
  mkdirSync(dir, { recursive: true });
  const v = Buffer.alloc(4);
  v.writeUInt32LE(n);
  writeFileSync(join(dir, 'efuse_secure_version.bin'), v);
  return dir;
}

const efuseOf = (dir: string) => {
  const f = join(dir, 'efuse_secure_version.bin');
  return existsSync(f) ? readFileSync(f).readUInt32LE(0) : 0;
};

describe('the ESP-IDF port with CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK (eFuse secure version)', () => {
  const runAr = (args: string[]) => runDevice(args, 'furrow-device-esp-ar');

  it('refuses a manifest whose secure version is below the eFuse counter before a byte of the slot is written', async () => {
    const world = await w.start({ from: PAIR.from, to: PAIR.to, secureVersion: 1 });
    const dir = flashWithEfuse(2);
    const r = await runAr(world.deviceArgs(dir));
    noViolation(r);
    expect(r.code, r.stderr).toBe(0);
    expect(world.reports[0]).toEqual({ status: 'failed', reason: "manifest: secure version lower than the device's" });
    expect(r.events.some((e) => e.event === 'chunk' || e.event === 'applied')).toBe(false);
    const slot1 = existsSync(join(dir, 'slot1.bin')) ? readSlot(dir, 1, world.toImage.length) : Buffer.alloc(0);
    expect(slot1.every((b) => b === 0xff)).toBe(true);
    expect(efuseOf(dir)).toBe(2);
  });

  it('refuses such a manifest too when the stored state counter lags the eFuse (the eFuse is the floor)', async () => {
    // a first update leaves a state blob whose counter is 0 (refused at the boot slot: app_desc 0 != 1)
    const first = await w.start({ from: PAIR.from, to: PAIR.to, secureVersion: 1 });
    const dir = w.flash();
    const a = await runAr(first.deviceArgs(dir, ['--max-wakes', '2']));
    expect(a.events.filter((e) => e.event === 'idle').map((e) => e.b)).toContain(0);
    await first.stop();
    // then the eFuse is at 2 (burned by an image NVS never heard of); another patch is offered
    writeFileSync(join(dir, 'efuse_secure_version.bin'), Buffer.from([2, 0, 0, 0]));
    const world = await w.start({ from: PAIR.from, to: PAIR.to, secureVersion: 1, chunkSize: 64 * 1024 });
    const r = await runAr(world.deviceArgs(dir));
    noViolation(r);
    expect(world.reports[0]).toEqual({ status: 'failed', reason: "manifest: secure version lower than the device's" });
    expect(r.events.some((e) => e.event === 'chunk' || e.event === 'applied')).toBe(false);
  });

  it('refuses an image whose esp_app_desc_t.secure_version is not the release statement\'s, and never boots it', async () => {
    // the corpus image was built without CONFIG_BOOTLOADER_APP_SECURE_VERSION: its app_desc says 0
    const world = await w.start({ from: PAIR.from, to: PAIR.to, secureVersion: 1 });
    const dir = w.flash();
    const r = await runAr(world.deviceArgs(dir));
    noViolation(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.some((e) => e.event === 'applied')).toBe(true);
    expect(r.stderr).toMatch(/image secure_version 0 is not the release statement's 1/);
    expect(world.reports[0]).toEqual({ status: 'failed', reason: 'set boot slot: release statement does not match the manifest' });
    expect(r.events.filter((e) => e.event === 'bootloader').every((e) => e.a === 0)).toBe(true);
    expect(efuseOf(dir)).toBe(0);
  });

  it('updates to an image with a higher secure version and burns the eFuse only when the new image is confirmed', async () => {
    const to = withSecureVersion(PAIR.to, 3);
    const failing = await w.start({ from: PAIR.from, to, secureVersion: 3 });
    const rolled = w.flash();
    const bad = await runAr(failing.deviceArgs(rolled, ['--fail-self-test']));
    noViolation(bad);
    expect(bad.events.filter((e) => e.event === 'bootloader').map((e) => e.a)).toEqual([0, 1, 0]);
    expect(failing.reports[0]).toEqual({ status: 'rolled_back', reason: 'self-test failed' });
    expect(efuseOf(rolled)).toBe(0); // booted on trial, never confirmed: nothing burned
    await failing.stop();

    const world = await w.start({ from: PAIR.from, to, secureVersion: 3 });
    const dir = flashWithEfuse(1);
    const r = await runAr(world.deviceArgs(dir));
    noViolation(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.event === 'bootloader').map((e) => e.a)).toEqual([0, 1]);
    expect(r.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.reports.map((x) => x.status)).toEqual(['booted']);
    expect(efuseOf(dir)).toBe(3);
    expect(r.stderr).toMatch(/secure_version burned to 3/);
  });
});
