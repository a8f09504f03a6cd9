import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fecDecoderRamBytes } from '../../src/bearer/lora/fuota/fec-decoder.ts';
import { startMosquitto, type Broker } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { APP_ID, startLoraGateway, type LoraGateway } from '../helpers/chirpstack-emulator-gateway.ts';
import { corpusPatch, type CorpusPatch } from '../helpers/chirpstack-emulator-patch.ts';
import { runMulticastSession } from '../helpers/chirpstack-emulator-session.ts';

describe('LoRa multicast FUOTA (TS005 + TS004 with FEC) through ChirpStack (emulated)', () => {
  let broker: Broker;
  let emu: ChirpStackEmulator;
  let gw: LoraGateway;
  let cp: CorpusPatch;

  beforeAll(async () => {
    cp = await corpusPatch();
    broker = await startMosquitto();
    emu = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 2026, lossDown: 0.1, lossUp: 0.1, rxWindowMs: 300 });
    await emu.start();
    gw = await startLoraGateway({ brokerUrl: broker.url, patch: cp.patch, baseSha256: cp.baseSha256, targetSha256: cp.targetSha256, devices: [] });
  });

  afterAll(async () => {
    await gw?.stop();
    await emu?.stop();
    await broker?.stop();
  });

  it('brings the corpus patch to 100 devices byte-exact under 10% random frame loss', async () => {
    const run = await runMulticastSession({ emu, transport: gw.transport, data: cp.patch, devices: 100, heartbeatMs: 300 });
    const { result } = run;
    const failed = [...result.members].filter(([, r]) => r.state !== 'complete');
    expect(failed).toEqual([]);
    for (const d of run.devices) expect(d.fuotaData()?.equals(cp.patch), d.devEui).toBe(true);
    // one multicast transmission per fragment, whatever the group size
    expect(result.multicast.frames).toBe(result.nbFrag + result.parity);
    expect(emu.stats.multicastDown.frames).toBe(result.multicast.frames);
    expect(emu.stats.oversize).toBe(0);
    // most devices recovered their losses from parity alone
    const repaired = [...result.members.values()].filter((r) => r.repairFragments > 0).length;
    expect(repaired).toBeLessThan(20);
    // the scheduler paced the fragments to the g3 sub-band's 10% duty cycle
    expect(run.radioMs).toBeGreaterThanOrEqual(result.multicast.airtimeMs / 0.1 - 5_000);
    expect(run.scheduler.stats('lora-mc')!.admittedFrames).toBe(result.multicast.frames);
    const ram = fecDecoderRamBytes(result.nbFrag, result.fragSize, 128);
    expect(ram).toBeLessThan(4096);
  });

  it('resends by unicast exactly the fragments FEC could not recover', async () => {
    const data = randomBytes(12_000);
    const heavy = new Set([0, 1]);
    const heavyEuis = new Set(['70b3d57ed0100900', '70b3d57ed0100901']);
    const run = await runMulticastSession({
      emu,
      transport: gw.transport,
      data,
      devices: 4,
      firstEui: 0x900,
      heartbeatMs: 250,
      redundancy: 0.1,
      lossDown: () => 0,
      // Heavy loss for two devices only while the fragments are on air: the setup reaches everyone,
      // FEC cannot cover 45% loss with 10% parity, and the unicast repair after it is heard in full.
      onProgress: (sent, total) => {
        for (const eui of heavyEuis) emu.devices.get(eui)!.lossDown = sent < total ? 0.45 : 0;
      },
    });
    const members = [...run.result.members.values()];
    expect([...run.result.members].filter(([, r]) => r.state !== 'complete')).toEqual([]);
    for (const d of run.devices) expect(d.fuotaData()?.equals(data)).toBe(true);
    for (const i of heavy) {
      const r = members[i]!;
      expect(r.missingAfterMulticast).toBeGreaterThan(0);
      expect(r.repairFragments).toBe(r.missingAfterMulticast);
    }
    expect(members[2]!.repairFragments).toBe(0);
  });
});
