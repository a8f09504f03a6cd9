import { describe, expect, it } from 'vitest';
import { LORA_DEFAULTS, loraTimeOnAirMs, maxPayloadWithinMs, usesLowDataRateOptimize } from '../../../src/schedule/lora-airtime.ts';

/**
 * Reference values: The Things Network LoRaWAN airtime calculator (https://avbentem.github.io/airtime-calculator/ttn/eu868),
 * which implements Semtech AN1200.13 §4 and agrees with the Semtech LoRa Calculator. Settings there:
 * BW 125 kHz, CR 4/5, 8 preamble symbols, explicit header, CRC on, LDRO on for SF11/SF12;
 * 12 bytes of application payload + 13 bytes LoRaWAN overhead = 25 bytes PHY payload.
 */
const radio = (sf: number) => ({ ...LORA_DEFAULTS, sf });

describe('LoRa time on air (Semtech AN1200.13)', () => {
  it.each([
    [7, 61.696],
    [8, 113.152],
    [9, 205.824],
    [10, 411.648],
    [11, 823.296],
    [12, 1482.752],
  ])('matches the TTN/Semtech calculator for SF%i with a 12-byte application payload', (sf, ms) => {
    expect(loraTimeOnAirMs(radio(sf), 25)).toBeCloseTo(ms, 3);
  });

  it('matches the calculator for the US915 DR0 limit: SF10 with 11 bytes fits 400 ms dwell (370.7 ms), 12 bytes does not', () => {
    expect(loraTimeOnAirMs(radio(10), 24)).toBeCloseTo(370.688, 3);
    expect(loraTimeOnAirMs(radio(10), 25)).toBeGreaterThan(400);
    expect(maxPayloadWithinMs(radio(10), 400)).toBe(24);
  });

  it('matches the calculator for a 51-byte payload at SF12 (max EU868 DR0 payload): 2793.5 ms', () => {
    // 51 + 13 = 64 bytes PHY; TTN calculator shows 2,793.5 ms.
    expect(loraTimeOnAirMs(radio(12), 64)).toBeCloseTo(2793.472, 3);
  });

  it('turns low data rate optimisation on by itself only where symbols last 16 ms or more', () => {
    expect(usesLowDataRateOptimize(radio(10))).toBe(false);
    expect(usesLowDataRateOptimize(radio(11))).toBe(true);
    expect(usesLowDataRateOptimize({ ...radio(12), bwKhz: 250 })).toBe(true);
    expect(usesLowDataRateOptimize({ ...radio(12), bwKhz: 500 })).toBe(false);
  });

  it('counts implicit header and missing CRC as fewer symbols', () => {
    const full = loraTimeOnAirMs(radio(9), 50);
    expect(loraTimeOnAirMs({ ...radio(9), explicitHeader: false }, 50)).toBeLessThan(full);
    expect(loraTimeOnAirMs({ ...radio(9), crc: false }, 50)).toBeLessThan(full);
    expect(loraTimeOnAirMs({ ...radio(9), cr: 4 }, 50)).toBeGreaterThan(full);
  });

  it('refuses payloads that no LoRa frame can carry', () => {
    expect(() => loraTimeOnAirMs(radio(7), 256)).toThrow(/0\.\.255/);
    expect(() => loraTimeOnAirMs(radio(7), -1)).toThrow(/0\.\.255/);
  });
});
