import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS_PAIRS } from '../helpers/corpus.ts';
import { readSlot, runDevice, worldPerTest } from './device-harness.ts';

const { start, flash } = worldPerTest();

const [small, big] = [CORPUS_PAIRS[0]!, CORPUS_PAIRS[1]!];

/** The device never set another boot slot: every boot ran slot 0 and otadata never named slot 1. */
function expectStillOnSlot0(dir: string, events: Array<Record<string, unknown>>): void {
  expect(events.filter((e) => e.event === 'bootloader').map((e) => e.a)).toEqual([0]);
  expect(events.some((e) => e.event === 'reboot')).toBe(false);
  const ota = join(dir, 'otadata.bin');
  if (existsSync(ota)) expect(readFileSync(ota)[4]).toBe(0);
}

describe('furrow-device refuses bad updates before the boot slot changes', () => {
  it('refuses a manifest whose signature was tampered with on the way', async () => {
    const world = await start(small);
    world.tamper = (pkt) => {
      const cf = pkt.options.find((o) => o.name === 'Content-Format');
      if (cf && Buffer.from(cf.value).readUIntBE(0, cf.value.length) === 18 && pkt.payload.length > 40) pkt.payload[30] = pkt.payload[30]! ^ 0x01;
      return pkt;
    };
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(world.reports).toEqual([{ status: 'failed', reason: 'manifest: signature does not verify' }]);
    expect(world.patchBytesSent).toBe(0); // refused before a patch byte was fetched
  });

  it('refuses a patch built for another base image', async () => {
    // the device runs 0.14.3; the gateway serves the (cached) 0.14.4 -> 0.15.0 patch as if it were for it
    const world = await start({ from: small.from, to: big.to, patchFrom: big.from });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(world.reports).toEqual([{ status: 'failed', reason: 'manifest: patch base is not the running image' }]);
    expect(world.patchBytesSent).toBe(0);
  });

  it('refuses a manifest whose version is not the one the vendor signed in the release statement', async () => {
    const world = await start({ ...small, statementVersion: 'other' });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(world.reports).toEqual([{ status: 'failed', reason: 'manifest: release statement does not match the manifest' }]);
    expect(world.patchBytesSent).toBe(0);
  });

  it('refuses a downgrade to a lower secure version', async () => {
    const world = await start({ ...small, secureVersion: 1 });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir, ['--secure-version', '2']));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(world.reports).toEqual([{ status: 'failed', reason: "manifest: secure version lower than the device's" }]);
  });

  it('refuses a release the vendor did not sign (wrong release key on the device)', async () => {
    const world = await start(small);
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir).map((a) => (a.endsWith('release.pub') ? a.replace('release.pub', 'gateway.pub') : a)));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(world.reports).toEqual([{ status: 'failed', reason: 'manifest: signature does not verify' }]);
  });

  it('refuses a corrupt chunk after applying the good ones, and does not switch', async () => {
    const world = await start({
      ...big,
      mutatePatch: (p) => {
        p[p.length - 10] = p[p.length - 10]! ^ 0x40; // inside the last chunk's body
        return p;
      },
    });
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir));
    expect(r.code, r.stderr).toBe(0);
    expectStillOnSlot0(dir, r.events);
    expect(r.events.filter((e) => e.event === 'chunk').length).toBeGreaterThan(0);
    expect(world.reports).toEqual([{ status: 'failed', reason: 'patch: chunk digest mismatch' }]);
    // the table is signed, so a bad body is first taken for damage in transit and fetched twice more
    expect(r.events.filter((e) => e.event === 'refetch').length).toBe(2);
    // offered the same patch again, the device does not download it again at once
    expect(r.events.some((e) => e.event === 'skip')).toBe(true);
  });

  it('rolls back when the new image fails its self-test and reports why', async () => {
    const world = await start(small);
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir, ['--fail-self-test']));
    expect(r.code, r.stderr).toBe(0);
    const boots = r.events.filter((e) => e.event === 'bootloader');
    expect(boots.map((e) => e.a)).toEqual([0, 1, 0]);
    expect(readFileSync(join(dir, 'otadata.bin'))[6]).toBe(4); // slot 1 marked invalid (OTA_INVALID)
    expect(world.reports[0]).toEqual({ status: 'rolled_back', reason: 'self-test failed' });
    // offered again, the device refuses the image that failed
    expect(world.reports[1]).toEqual({ status: 'failed', reason: 'manifest: this image failed its self-test before' });
    expect(Buffer.compare(readSlot(dir, 0, world.fromImage.length), world.fromImage)).toBe(0);
  });

  it('finishes the update when the radio drops every fifth answer (CoAP retransmission)', async () => {
    const world = await start(small);
    let n = 0;
    world.tamper = (pkt) => (++n % 5 === 0 ? null : pkt);
    const dir = flash();
    const r = await runDevice(world.deviceArgs(dir, ['--ack-timeout-ms', '60']));
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.compare(readSlot(dir, 1, world.toImage.length), world.toImage)).toBe(0);
    expect(world.reports).toEqual([{ status: 'booted' }]);
    expect(n).toBeGreaterThan(60);
  });
});
