import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readSlot, runDevice, startWorld, type World } from './device-harness.ts';

let world: World | undefined;
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await world?.stop();
  world = undefined;
  while (cleanups.length) cleanups.pop()!();
});

function flash(): string {
  const t = tempDir('furrow-flash-');
  cleanups.push(t.cleanup);
  return join(t.dir, 'flash');
}

const pair = CORPUS_PAIRS[0]!;

describe('furrow-device transfer behaviour against the real gateway', () => {
  it('sleeps for Max-Age when the radio budget is spent (5.03) and resumes at the same offset', async () => {
    let admitted = 0;
    let refusals = 0;
    world = await startWorld({
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
    world = await startWorld({ ...pair, coap: { maxBlockSize: 256 } });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.patchBytesSent).toBe(world.patchSize);
  });

  it('jumps its request counter ahead when the gateway saw a higher one (lost state)', async () => {
    world = await startWorld(pair);
    const first = await runDevice(world.deviceArgs(flash()));
    expect(first.code, first.stderr).toBe(0);
    // a factory-fresh device with the same id and key starts at counter 1 again: refused once, then accepted
    const again = await runDevice(world.deviceArgs(flash()));
    expect(again.code, again.stderr).toBe(0);
    expect(again.events.some((e) => e.event === 'confirmed')).toBe(true);
    expect(world.reports.map((x) => x.status)).toEqual(['booted', 'booted']);
  });

  it('exits with a clear message when a required option is missing', async () => {
    world = await startWorld(pair);
    const args = world.deviceArgs(flash()).filter((a, i, all) => a !== '--key-file' && all[i - 1] !== '--key-file');
    const r = await runDevice(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing a required option/);
  });

  it('refuses a key file that is not 32 bytes of hex', async () => {
    world = await startWorld(pair);
    const args = world.deviceArgs(flash()).map((a) => (a.endsWith('device.key') ? a.replace('device.key', 'gateway.pub') : a));
    const r = await runDevice(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/key file must hold the 32-byte device key as 64 hex digits/);
  });
});
