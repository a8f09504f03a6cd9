/**
 * `npm run bench:lora`: one corpus patch to 100 LoRa devices (EU868 DR5, 10% random frame loss both
 * ways), bytes on air with plain unicast CoAP Block2 (measured on a sample of devices through the
 * ChirpStack emulator and the real CoAP server, scaled to 100), the same with SCHC header compression,
 * and TS005/TS004 multicast with FEC (measured with all 100 devices). Prints a markdown table.
 */
import { fecDecoderRamBytes } from '../../src/bearer/lora/fuota/fec-decoder.ts';
import { LORAWAN_FRAME_OVERHEAD, timeOnAirMs } from '../../src/bearer/lora/airtime.ts';
import { startMosquitto } from '../helpers/chirpstack-emulator-broker.ts';
import { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { FurrowLoraDevice } from '../helpers/chirpstack-emulator-device.ts';
import { APP_ID, PORTS, startLoraGateway } from '../helpers/chirpstack-emulator-gateway.ts';
import { corpusPatch } from '../helpers/chirpstack-emulator-patch.ts';
import { runMulticastSession } from '../helpers/chirpstack-emulator-session.ts';

const FLEET = 100;
const SAMPLE = Number(process.env.LORA_BENCH_SAMPLE ?? 5);
const LOSS = 0.1;
const DR = 5;

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const mins = (ms: number): string => `${(ms / 60_000).toFixed(1)} min`;

async function main(): Promise<void> {
  const cp = await corpusPatch();
  process.stdout.write(`patch ${cp.name}: ${cp.patch.length} bytes; ${FLEET} devices at DR${DR}, ${LOSS * 100}% frame loss each way\n`);
  const broker = await startMosquitto();
  try {
    // --- unicast: a sample of devices downloads through the real CoAP server, numbers scaled to the fleet
    const emuU = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 7, lossDown: LOSS, lossUp: LOSS, rxWindowMs: 300 });
    await emuU.start();
    const keys = Array.from({ length: SAMPLE }, (_, i) => Buffer.alloc(32, i + 1));
    const gwU = await startLoraGateway({ brokerUrl: broker.url, patch: cp.patch, baseSha256: cp.baseSha256, targetSha256: cp.targetSha256, devices: keys.map((key, i) => ({ id: `probe-${i}`, key })) });
    const devs = keys.map((_, i) => new FurrowLoraDevice(emuU, `70b3d57ed0200${i.toString(16).padStart(3, '0')}`, { dr: DR, ports: PORTS, heartbeatMs: 5000, coapTimeoutMs: 60 }));
    const t0 = Date.now();
    await Promise.all(
      devs.map(async (d, i) => {
        const c = await d.checkin(`probe-${i}`, keys[i]!, gwU.product, cp.baseSha256);
        const r = await d.download(String(c.map.get(4)).split('/'));
        if (!r.data.equals(cp.patch)) throw new Error(`unicast device ${i} got a different patch`);
      }),
    );
    process.stdout.write(`unicast sample of ${SAMPLE} devices done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const scale = FLEET / SAMPLE;
    const st = gwU.transport.stats;
    const uDown = emuU.stats.unicastDown;
    const uUp = emuU.stats.up;
    // The same frames without SCHC: the CoAP datagram itself as FRMPayload.
    const rawPhy = st.coapBytesDown + st.framesDown * LORAWAN_FRAME_OVERHEAD;
    const rawAir = (uDown.airtimeMs * rawPhy) / Math.max(1, uDown.phyBytes);
    await gwU.stop();
    await emuU.stop();

    // --- multicast: all 100 devices, real session
    const emuM = new ChirpStackEmulator({ brokerUrl: broker.url, applicationId: APP_ID, seed: 2026, lossDown: LOSS, lossUp: LOSS, rxWindowMs: 300 });
    await emuM.start();
    const gwM = await startLoraGateway({ brokerUrl: broker.url, patch: cp.patch, baseSha256: cp.baseSha256, targetSha256: cp.targetSha256, devices: [] });
    const t1 = Date.now();
    const run = await runMulticastSession({ emu: emuM, transport: gwM.transport, data: cp.patch, devices: FLEET, dr: DR });
    const ok = run.devices.filter((d) => d.fuotaData()?.equals(cp.patch)).length;
    process.stdout.write(`multicast session done in ${((Date.now() - t1) / 1000).toFixed(1)} s; ${ok}/${FLEET} devices byte-exact\n\n`);
    const mc = emuM.stats.multicastDown;
    const mu = emuM.stats.unicastDown;
    const mUp = emuM.stats.up;
    const repairs = [...run.result.members.values()].reduce((s, r) => s + r.repairFragments, 0);
    const repaired = [...run.result.members.values()].filter((r) => r.repairFragments > 0).length;
    await gwM.stop();
    await emuM.stop();

    const rows: string[][] = [
      ['method', 'downlink frames', 'downlink bytes on air (PHY)', 'downlink airtime', 'uplink frames', 'uplink bytes on air', 'gateway time at 10% duty (g3)'],
      ['unicast CoAP Block2, no header compression (same frames, raw CoAP)', `${Math.round(uDown.frames * scale)}`, kb(rawPhy * scale), mins(rawAir * scale), `${Math.round(uUp.frames * scale)}`, kb(uUp.phyBytes * scale), mins((rawAir * scale) / 0.1)],
      ['unicast CoAP Block2 + SCHC (furrow LoRa bearer)', `${Math.round(uDown.frames * scale)}`, kb(uDown.phyBytes * scale), mins(uDown.airtimeMs * scale), `${Math.round(uUp.frames * scale)}`, kb(uUp.phyBytes * scale), mins((uDown.airtimeMs * scale) / 0.1)],
      [
        'LoRa multicast: TS005 + TS004 FEC, unicast repair (furrow)',
        `${mc.frames} mc + ${mu.frames} uc`,
        kb(mc.phyBytes + mu.phyBytes),
        mins(mc.airtimeMs + mu.airtimeMs),
        `${mUp.frames}`,
        kb(mUp.phyBytes),
        mins(run.radioMs),
      ],
    ];
    const line = (r: string[]): string => `| ${r.join(' | ')} |`;
    process.stdout.write(`${line(rows[0]!)}\n${line(rows[0]!.map(() => '---'))}\n${rows.slice(1).map(line).join('\n')}\n\n`);
    const ram = fecDecoderRamBytes(run.result.nbFrag, run.result.fragSize, 128);
    process.stdout.write(
      `multicast: ${run.result.nbFrag} fragments of ${run.result.fragSize} B + ${run.result.parity} parity; ${repaired} devices needed ${repairs} unicast repair fragments in total\n` +
        `multicast gateway time is measured on the scheduler's clock (pacing enforced by src/schedule, EU868 g3 10%); unicast time is airtime / 0.1 (RX2 in g3)\n` +
        `FEC decoder RAM per device (M=${run.result.nbFrag}, F=${run.result.fragSize}, up to 128 lost): ${ram} bytes + the patch buffer in flash\n` +
        `one DataFragment at DR${DR}: ${timeOnAirMs(run.result.fragSize + 3, DR, { direction: 'down' }).toFixed(1)} ms on air\n`,
    );
  } finally {
    await broker.stop();
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:lora failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
