import { describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { readSlot, runDevice, worldPerTest } from './device-harness.ts';

const { start, flash } = worldPerTest();

const pair = CORPUS_PAIRS[0]!;

describe('furrow-device transfer behaviour against the real gateway', () => {
  it('sleeps for Max-Age when the radio budget is spent (5.03) and resumes at the same offset', async () => {
    let admitted = 0;
    let refusals = 0;
    const world = await start({
      ...pair,
      gate: {
        admit() {
          // budget of 20 blocks, then one refusal, then open again
          if (++admitted === 21) {
            refusals++;
            return { ok: false, retryAfterSeconds: 1, reason: 'test budget' };
          }
          return { ok: true };
        },
      },
    });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir, ['--max-sleep', '1']));
    expect(r.code, r.stderr).toBe(0);
    expect(refusals).toBe(1);
    const sleep = r.events.find((e) => e.event === 'sleep');
    expect(sleep).toMatchObject({ detail: 'download', a: 1 });
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.patchBytesSent).toBe(world.patchSize); // nothing fetched twice
  });

  it('honours a smaller block size than it asked for (RFC 7959 §2.4)', async () => {
    const world = await start({ ...pair, coap: { maxBlockSize: 256 } });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.patchBytesSent).toBe(world.patchSize);
  });

  it('jumps its request counter ahead when the gateway saw a higher one (lost state)', async () => {
    const world = await start(pair);
    const first = await runDevice(world.deviceArgs(flash()));
    expect(first.code, first.stderr).toBe(0);
    // a factory-fresh device with the same id and key starts at counter 1 again: refused once, then accepted
    const again = await runDevice(world.deviceArgs(flash()));
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(world.reports.map((x) => x.status)).toEqual(['booted', 'booted']);
  });

  it('exits with a clear message when a required option is missing', async () => {
    const world = await start(pair);
    const args = world.deviceArgs(flash()).filter((a, i, all) => a !== '--key-file' && all[i - 1] !== '--key-file');
    const r = await runDevice(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing a required option/);
    const typo = await runDevice([...world.deviceArgs(flash()), '--power-cut-aftr', '5']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option: --power-cut-aftr/);
  });

  it('refuses a key file that is not 32 bytes of hex', async () => {
    const world = await start(pair);
    const args = world.deviceArgs(flash()).map((a) => (a.endsWith('device.key') ? a.replace('device.key', 'gateway.pub') : a));
    const r = await runDevice(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/key file must hold the 32-byte device key as 64 hex digits/);
  });

  it('survives a gateway link that corrupts random answers: never crashes, never boots a wrong image', async () => {
    const world = await start(pair);
    const w = world;
    let seed = 99;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let corrupted = 0;
    w.tamper = (pkt) => {
      if (rand() < 0.03 && pkt.payload.length > 0) {
        corrupted++;
        const at = Math.floor(rand() * pkt.payload.length);
        pkt.payload[at] = pkt.payload[at]! ^ (1 << Math.floor(rand() * 8));
      }
      return pkt;
    };
    const outcomes: string[] = [];
    for (let run = 0; run < 4; run++) {
      const dir = flash();
      const reportsBefore = w.reports.length;
      const r = await runDevice(w.deviceArgs(dir, ['--max-wakes', '5', '--ack-timeout-ms', '50']));
      expect(r.code, r.stderr).not.toBeNull(); // exited, not killed by a signal
      expect([0, 4]).toContain(r.code);
      const booted = r.events.filter((e) => e.event === 'bootloader').map((e) => e.a);
      if (booted.includes(1)) {
        expect(Buffer.compare(readSlot(dir, 1, w.toImage.length), w.toImage)).toBe(0);
        outcomes.push('updated');
      } else {
        expect(booted.every((s) => s === 0)).toBe(true);
        outcomes.push(w.reports.slice(reportsBefore).find((x) => x.status === 'failed')?.reason ?? `exit ${r.code}`);
      }
    }
    console.log(`corrupted ${corrupted} answers; outcomes: ${outcomes.join(' / ')}`);
    expect(corrupted).toBeGreaterThan(0);
  });
});
