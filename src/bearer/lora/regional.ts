/**
 * EU863-870 regional parameters (LoRaWAN RP002-1.0.x, §2.4): data rates and the largest application
 * payload (N, FRMPayload with empty FOpts) per data rate. N for DR4-7 is the "not repeater compatible"
 * value (242); a network behind a repeater must use 222 — set `maxPayloadOverride` in the config.
 */
export type Modulation =
  | { kind: 'lora'; sf: number; bandwidthHz: number }
  | { kind: 'fsk'; bitRate: number };

export interface DataRate {
  dr: number;
  modulation: Modulation;
  /** Largest FRMPayload in bytes (N) at this data rate. */
  maxPayload: number;
}

export const EU868_DATA_RATES: readonly DataRate[] = [
  { dr: 0, modulation: { kind: 'lora', sf: 12, bandwidthHz: 125_000 }, maxPayload: 51 },
  { dr: 1, modulation: { kind: 'lora', sf: 11, bandwidthHz: 125_000 }, maxPayload: 51 },
  { dr: 2, modulation: { kind: 'lora', sf: 10, bandwidthHz: 125_000 }, maxPayload: 51 },
  { dr: 3, modulation: { kind: 'lora', sf: 9, bandwidthHz: 125_000 }, maxPayload: 115 },
  { dr: 4, modulation: { kind: 'lora', sf: 8, bandwidthHz: 125_000 }, maxPayload: 242 },
  { dr: 5, modulation: { kind: 'lora', sf: 7, bandwidthHz: 125_000 }, maxPayload: 242 },
  { dr: 6, modulation: { kind: 'lora', sf: 7, bandwidthHz: 250_000 }, maxPayload: 242 },
  { dr: 7, modulation: { kind: 'fsk', bitRate: 50_000 }, maxPayload: 242 },
];

/** EU868 RX2 / Class C default: 869.525 MHz, in the g3 sub-band (10% duty cycle). */
export const EU868_RX2_FREQUENCY_HZ = 869_525_000;

export function dataRate(dr: number): DataRate {
  const d = EU868_DATA_RATES[dr];
  if (!Number.isInteger(dr) || !d) {
    throw new RangeError(`EU868 data rate DR${dr} is not one of DR0..DR7`);
  }
  return d;
}

/** N at `dr`; behind a repeater DR4-7 drop to 222 bytes (RP002 EU868 repeater-compatible table). */
export function maxPayload(dr: number, repeaterCompatible = false): number {
  const n = dataRate(dr).maxPayload;
  return repeaterCompatible && dr >= 4 ? 222 : n;
}

/** Map a ChirpStack spreading factor (uplink txInfo) to an EU868 125 kHz data rate. */
export function drFromSpreadingFactor(sf: number, bandwidthHz = 125_000): number | undefined {
  const d = EU868_DATA_RATES.find((r) => r.modulation.kind === 'lora' && r.modulation.sf === sf && r.modulation.bandwidthHz === bandwidthHz);
  return d?.dr;
}

/**
 * Largest CoAP Block2 SZX (block = 2^(SZX+4) bytes, RFC 7959 §2.2) whose block plus `overhead` bytes
 * (the compressed CoAP header) still fits one frame at this data rate. EU868: DR0-2 → 32 B, DR3 → 64 B,
 * DR4-7 → 128 B with the furrow SCHC rules (overhead ≤ 19 bytes).
 */
export function blockSzxForDr(dr: number, overhead: number): number {
  const room = maxPayload(dr) - overhead;
  for (let szx = 6; szx >= 0; szx--) {
    if (1 << (szx + 4) <= room) return szx;
  }
  throw new RangeError(`DR${dr} leaves ${room} bytes after ${overhead} bytes of header: not even a 16-byte block fits`);
}
