/**
 * Regulatory limits the scheduler enforces. EU868 sub-bands and duty cycles as listed in ETSI EN 300 220-2
 * (annex B) and the LoRaWAN Regional Parameters (RP002) EU863-870 section; US915 dwell time from FCC
 * §15.247 as applied by RP002 (400 ms per transmission).
 */
export interface SubBand {
  name: string;
  lowMhz: number;
  highMhz: number;
  /** Fraction of time the transmitter may be on, over the observation period. */
  dutyCycle: number;
}

export const EU868_SUB_BANDS: readonly SubBand[] = [
  { name: 'g', lowMhz: 863.0, highMhz: 868.0, dutyCycle: 0.01 },
  { name: 'g1', lowMhz: 868.0, highMhz: 868.6, dutyCycle: 0.01 },
  { name: 'g2', lowMhz: 868.7, highMhz: 869.2, dutyCycle: 0.001 },
  { name: 'g3', lowMhz: 869.4, highMhz: 869.65, dutyCycle: 0.1 },
  { name: 'g4', lowMhz: 869.7, highMhz: 870.0, dutyCycle: 0.01 },
];

/** ETSI EN 300 220: duty cycle is measured over one hour. */
export const EU868_OBSERVATION_MS = 3_600_000;

export function subBandByName(name: string): SubBand | undefined {
  return EU868_SUB_BANDS.find((b) => b.name === name);
}

export function subBandForFrequency(mhz: number): SubBand | undefined {
  return EU868_SUB_BANDS.find((b) => mhz >= b.lowMhz && mhz < b.highMhz);
}

/** FCC §15.247(a)(1)(i): at most 400 ms on one channel per transmission (and per 20 s period). */
export const US915_DWELL_MS = 400;
export const US915_DWELL_PERIOD_MS = 20_000;
