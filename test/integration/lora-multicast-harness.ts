/**
 * Device side of the TS003 tests: the emulated furrow LoRa device (CoAP client + FUOTA agent) with a
 * clock of its own and the TS003 client the firmware would run: AppTimeReq with its DeviceTime,
 * AppTimeAns applied when the token matches, ForceDeviceResyncReq answered with AppTimeReqs.
 */
import { encodeEnvelope } from '../../src/coap/auth.ts';
import * as ts003 from '../../src/bearer/lora/clock-sync.ts';
import type { ChirpStackEmulator } from '../helpers/chirpstack-emulator.ts';
import { FurrowLoraDevice, type DeviceOptions } from '../helpers/chirpstack-emulator-device.ts';

export const CLOCK_PORT = 202;

export class ClockedLoraDevice extends FurrowLoraDevice {
  /** Device clock minus true time, ms (an unsynchronised RTC). */
  clockOffsetMs: number;
  token = 0;
  corrections: number[] = [];
  private resyncLeft = 0;
  private reportCounter = 1000;

  constructor(
    private readonly emulator: ChirpStackEmulator,
    devEui: string,
    o: DeviceOptions & { clockOffsetMs?: number },
  ) {
    super(emulator, devEui, o);
    this.clockOffsetMs = o.clockOffsetMs ?? 0;
  }

  deviceGpsSeconds(): number {
    return ts003.utcMsToGpsSeconds(Date.now() + this.clockOffsetMs);
  }

  /** TS003 §3.2: what the firmware sends on its own schedule or when asked to resync. */
  sendAppTimeReq(ansRequired: boolean): Promise<boolean> {
    return this.emulator.uplink(this.devEui, CLOCK_PORT, ts003.encodeAppTimeReq({ deviceTime: this.deviceGpsSeconds(), tokenReq: this.token, ansRequired }));
  }

  override onDownlink(fPort: number, data: Buffer, ctx: { fPending: boolean; multicast: boolean }): void {
    if (fPort !== CLOCK_PORT || ctx.multicast) return super.onDownlink(fPort, data, ctx);
    if (data[0] === ts003.Ts003Cid.AppTime) {
      const a = ts003.decodeAppTimeAns(data);
      // §3.2: an answer whose token is not the current one is stale and ignored.
      if (a.tokenAns !== this.token) return;
      this.clockOffsetMs += a.timeCorrection * 1000;
      this.corrections.push(a.timeCorrection);
      this.token = (this.token + 1) & 15;
      this.resyncLeft = 0;
    } else if (data[0] === ts003.Ts003Cid.ForceDeviceResync) {
      this.resyncLeft = ts003.decodeForceDeviceResyncReq(data).nbTransmissions;
      void this.resyncStep();
    }
    if (ctx.fPending) setImmediate(() => void this.emulator.uplink(this.devEui, 2, Buffer.from([1])));
  }

  /** §3.4: up to NbTransmissions AppTimeReq (AnsRequired 0), stopping once an answer arrived. */
  private async resyncStep(): Promise<void> {
    while (this.resyncLeft > 0) {
      this.resyncLeft--;
      await this.sendAppTimeReq(false);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** POST /r through the gateway's CoAP server over LoRa, as the firmware reports after booting. */
  async report(deviceId: string, key: Buffer, status: string, runningSha256: string): Promise<string> {
    const body = new Map<number, unknown>([
      [1, status],
      [3, Buffer.from(runningSha256, 'hex')],
    ]);
    const r = await this.request({ code: 'POST', options: [{ name: 'Uri-Path', value: Buffer.from('r') }, { name: 'Content-Format', value: Buffer.from([60]) }], payload: encodeEnvelope(key, 'r', deviceId, ++this.reportCounter, body) });
    return r.code;
  }
}

/** Polls `cond` until it holds (tests wait for conditions, never for fixed times). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
