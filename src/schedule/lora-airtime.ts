/**
 * LoRa time on air, Semtech AN1200.13 "LoRa Modem Designer's Guide" §4 (the same formula the SX127x/SX126x
 * datasheets and the Semtech LoRa calculator use):
 *
 *   Tsym      = 2^SF / BW
 *   Tpreamble = (nPreamble + 4.25) · Tsym
 *   nPayload  = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR + 4), 0)
 *   ToA       = Tpreamble + nPayload · Tsym
 *
 * PL is the PHY payload in bytes, IH = 1 for implicit header, DE = 1 with low data rate optimisation,
 * CR = 1..4 for coding rate 4/5..4/8.
 */
export interface LoraRadio {
  /** Spreading factor 7..12. */
  sf: number;
  /** Bandwidth in kHz: 125, 250 or 500. */
  bwKhz: number;
  /** Coding rate denominator minus 4: 1 → 4/5 ... 4 → 4/8. */
  cr: number;
  preamble: number;
  explicitHeader: boolean;
  crc: boolean;
  /** Low data rate optimisation; 'auto' turns it on when a symbol lasts 16 ms or more (SF11/SF12 at 125 kHz). */
  lowDataRateOptimize: boolean | 'auto';
}

export const LORA_DEFAULTS: Omit<LoraRadio, 'sf'> = {
  bwKhz: 125,
  cr: 1,
  preamble: 8,
  explicitHeader: true,
  crc: true,
  lowDataRateOptimize: 'auto',
};

export function symbolMs(radio: Pick<LoraRadio, 'sf' | 'bwKhz'>): number {
  return 2 ** radio.sf / radio.bwKhz;
}

export function usesLowDataRateOptimize(radio: LoraRadio): boolean {
  if (radio.lowDataRateOptimize !== 'auto') return radio.lowDataRateOptimize;
  return symbolMs(radio) >= 16;
}

export function payloadSymbols(radio: LoraRadio, phyPayloadBytes: number): number {
  const de = usesLowDataRateOptimize(radio) ? 1 : 0;
  const ih = radio.explicitHeader ? 0 : 1;
  const crc = radio.crc ? 1 : 0;
  const num = 8 * phyPayloadBytes - 4 * radio.sf + 28 + 16 * crc - 20 * ih;
  const den = 4 * (radio.sf - 2 * de);
  return 8 + Math.max(Math.ceil(num / den) * (radio.cr + 4), 0);
}

/** Time on air in milliseconds of one frame with `phyPayloadBytes` bytes of PHY payload. */
export function loraTimeOnAirMs(radio: LoraRadio, phyPayloadBytes: number): number {
  if (!Number.isInteger(phyPayloadBytes) || phyPayloadBytes < 0 || phyPayloadBytes > 255) {
    throw new RangeError(`LoRa PHY payload must be 0..255 bytes, got ${phyPayloadBytes}`);
  }
  const tsym = symbolMs(radio);
  return (radio.preamble + 4.25) * tsym + payloadSymbols(radio, phyPayloadBytes) * tsym;
}

/** Largest PHY payload (bytes) whose frame stays within `limitMs` on air; -1 if even an empty frame does not. */
export function maxPayloadWithinMs(radio: LoraRadio, limitMs: number, cap = 255): number {
  let best = -1;
  for (let pl = 0; pl <= cap; pl++) {
    if (loraTimeOnAirMs(radio, pl) <= limitMs) best = pl;
    else break;
  }
  return best;
}

export function validateRadio(radio: LoraRadio): string[] {
  const out: string[] = [];
  if (!Number.isInteger(radio.sf) || radio.sf < 7 || radio.sf > 12) out.push(`spreading factor must be 7..12, got ${radio.sf}`);
  if (![125, 250, 500].includes(radio.bwKhz)) out.push(`bandwidth must be 125, 250 or 500 kHz, got ${radio.bwKhz}`);
  if (!Number.isInteger(radio.cr) || radio.cr < 1 || radio.cr > 4) out.push(`coding rate must be 1..4 (4/5..4/8), got ${radio.cr}`);
  return out;
}
