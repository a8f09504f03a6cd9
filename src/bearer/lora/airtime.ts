import { dataRate } from './regional.ts';

/**
 * Time on air of one LoRaWAN frame (Semtech AN1200.13 / SX1276 datasheet §4.1.1.7 formula).
 * Written here because `src/schedule/` had no LoRa airtime model when this bearer was built; the
 * scheduler's model should replace this one when it lands (same formula, same defaults).
 */

/** MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + FPort 1 + MIC 4: PHYPayload bytes around FRMPayload. */
export const LORAWAN_FRAME_OVERHEAD = 13;

export interface AirtimeOptions {
  /** Uplinks carry a payload CRC, downlinks do not (LoRaWAN 1.0.x §4). */
  direction: 'up' | 'down';
  /** FOpts bytes piggybacked on the frame (MAC commands); 0 for application data. */
  fOptsLength?: number;
  preambleSymbols?: number;
  /** Coding rate 4/(4+cr); LoRaWAN uses 4/5. */
  codingRate?: 1 | 2 | 3 | 4;
}

/** Milliseconds on air for a frame carrying `frmPayloadLength` application bytes at EU868 `dr`. */
export function timeOnAirMs(frmPayloadLength: number, dr: number, opts: AirtimeOptions): number {
  const pl = frmPayloadLength + LORAWAN_FRAME_OVERHEAD + (opts.fOptsLength ?? 0);
  const mod = dataRate(dr).modulation;
  const preamble = opts.preambleSymbols ?? 8;
  if (mod.kind === 'fsk') {
    // GFSK: 5 preamble bytes, 3 sync word bytes, 1 length byte, payload, 2 CRC bytes.
    return ((5 + 3 + 1 + pl + 2) * 8 * 1000) / mod.bitRate;
  }
  const { sf, bandwidthHz } = mod;
  const tSym = ((1 << sf) / bandwidthHz) * 1000;
  const de = tSym >= 16 ? 1 : 0; // low data rate optimisation, mandatory for SF11/SF12 at 125 kHz
  const crc = opts.direction === 'up' ? 1 : 0;
  const cr = opts.codingRate ?? 1;
  const ih = 0; // LoRaWAN always uses the explicit header
  const num = 8 * pl - 4 * sf + 28 + 16 * crc - 20 * ih;
  const payloadSymbols = 8 + Math.max(Math.ceil(num / (4 * (sf - 2 * de))) * (cr + 4), 0);
  return (preamble + 4.25) * tSym + payloadSymbols * tSym;
}

/**
 * ETSI EN 300 220 duty cycle of the EU868 sub-band a frequency belongs to (as a fraction).
 * Frequencies outside the listed sub-bands get the 0.1% that applies to the rest of 863-870 MHz.
 */
export function dutyCycleFor(frequencyHz: number): number {
  const mhz = frequencyHz / 1e6;
  if (mhz >= 868.0 && mhz <= 868.6) return 0.01; // g1: the three default channels
  if (mhz >= 868.7 && mhz <= 869.2) return 0.001; // g2
  if (mhz >= 869.4 && mhz <= 869.65) return 0.1; // g3: RX2 / Class C / multicast
  if (mhz >= 869.7 && mhz <= 870.0) return 0.01; // g4
  if (mhz >= 863.0 && mhz < 868.0) return 0.01; // g (863-868)
  return 0.001;
}

/** Silence the transmitter must keep after a frame of `airtimeMs` under `dutyCycle`. */
export function offTimeMs(airtimeMs: number, dutyCycle: number): number {
  return airtimeMs * (1 / dutyCycle - 1);
}
