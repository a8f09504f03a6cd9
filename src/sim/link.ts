import { loraTimeOnAirMs, type LoraRadio } from '../schedule/lora-airtime.ts';

/** How a simulated device reaches the gateway. Only the radio is modelled; the bytes go over real UDP. */
export type LinkModel =
  | {
      kind: 'nbiot';
      /** Round trip per request/response, uniformly drawn from [min, max] ms (NB-IoT: 1-3 s). */
      rttMs: [number, number];
      /** Downlink rate one transfer gets (NB-IoT CE0 ~ 20 kbit/s); a reply takes size / rate on top of the RTT. */
      bytesPerSecond: number;
      loss: number;
      rsrp: number;
    }
  | {
      kind: 'lora';
      loss: number;
      /** Gateway downlink radio (what the scheduler models) and the device's uplink radio. */
      downlink: LoraRadio;
      uplink: LoraRadio;
      /** Device uplink duty cycle (EU868 g/g1: 1 %). */
      uplinkDutyCycle: number;
      /** Class A: RX1 opens 1 s after the uplink ends. */
      rx1DelayMs: number;
      frameOverheadBytes: number;
    };

export interface Behaviour {
  /** Periodic check-in (PSM TAU / wake cycle), ms. */
  checkinIntervalMs: number;
  /** First wake spread uniformly over [0, firstWakeMs). */
  firstWakeMs: number;
  /** Probability of a power cut before any block request. */
  powerCutRate: number;
  powerOffMs: [number, number];
  /** Probability the new image fails its self-test (device reports failed and stays on the old one). */
  selfTestFailRate: number;
  rebootMs: number;
}

/** Independent record of every downlink datagram, to check the gateway against the regulation. */
export class RadioMonitor {
  readonly frames: Array<{ t: number; airMs: number }> = [];
  downlinkBytes = 0;
  /** Downlink frames and airtime per kind of reply (e.g. `2.05 /p`, `5.03 /p`, `2.05 /c later`). */
  readonly byKind = new Map<string, { frames: number; airMs: number }>();

  constructor(
    private readonly radio: LoraRadio | undefined,
    private readonly frameOverhead: number,
  ) {}

  record(t: number, datagramBytes: number, kind = 'reply'): void {
    this.downlinkBytes += datagramBytes;
    const airMs = this.radio ? loraTimeOnAirMs(this.radio, Math.min(255, datagramBytes + this.frameOverhead)) : 0;
    if (this.radio) this.frames.push({ t, airMs });
    const k = this.byKind.get(kind) ?? { frames: 0, airMs: 0 };
    k.frames++;
    k.airMs += airMs;
    this.byKind.set(kind, k);
  }

  get airtimeMs(): number {
    return this.frames.reduce((a, f) => a + f.airMs, 0);
  }

  /**
   * Windows of `windowMs` (one per frame start) whose time on air, counting partial frames at the
   * window's edges, exceeds dutyCycle × windowMs.
   */
  violations(dutyCycle: number, windowMs: number): number {
    const f = [...this.frames].sort((a, b) => a.t - b.t);
    let bad = 0;
    let j = 0;
    let sum = 0;
    for (let i = 0; i < f.length; i++) {
      // Window [f[i].t - windowMs + f[i].airMs, f[i].t + f[i].airMs]: ends when frame i ends.
      const end = f[i]!.t + f[i]!.airMs;
      const start = end - windowMs;
      sum += f[i]!.airMs;
      while (j < i && f[j]!.t + f[j]!.airMs <= start) sum -= f[j++]!.airMs;
      const partial = j <= i && f[j]!.t < start ? start - f[j]!.t : 0;
      if (sum - partial > dutyCycle * windowMs + 1e-6) bad++;
    }
    return bad;
  }
}
