import type { BearerModelConfig, CellularBearerConfig, LoraBearerConfig } from './config.ts';
import { cellularTransferMs, type CeLevel } from './cellular.ts';
import { loraTimeOnAirMs, maxPayloadWithinMs, type LoraRadio } from './lora-airtime.ts';
import { EU868_OBSERVATION_MS, subBandByName, US915_DWELL_MS, US915_DWELL_PERIOD_MS } from './regions.ts';

/** CoAP header, token, ETag, Block2 and Size2 options on a patch block reply (bytes, upper estimate). */
export const COAP_BLOCK_OVERHEAD = 24;

/** LoRaWAN RP002 EU863-870 maximum application payload N per spreading factor (no FOpts). */
const EU868_MAX_APP_PAYLOAD: Record<number, number> = { 7: 222, 8: 222, 9: 115, 10: 51, 11: 51, 12: 51 };

export function loraRadio(cfg: LoraBearerConfig): LoraRadio {
  return {
    sf: cfg.sf,
    bwKhz: cfg.bwKhz,
    cr: cfg.cr,
    preamble: cfg.preamble,
    explicitHeader: cfg.explicitHeader,
    crc: cfg.crc,
    lowDataRateOptimize: cfg.lowDataRateOptimize,
  };
}

export interface LoraLimits {
  radio: LoraRadio;
  /** Largest datagram (CoAP message) one frame carries. */
  maxDatagram: number;
  /** Airtime fraction allowed over `windowMs`. */
  dutyCycle: number;
  windowMs: number;
  /** Airtime allowed per window, less one largest frame so partial frames at the edges cannot overshoot. */
  windowLimitMs: number;
  maxFrameMs: number;
  /** Per-frame airtime cap (US915 dwell), Infinity in EU868. */
  dwellMs: number;
  describe: string;
}

/** US915 downlinks hop over 8 channels (RP002 US902-928: 923.3 + 0.6·k MHz); each gets 400 ms per 20 s. */
const US915_DOWNLINK_CHANNELS = 8;

export function loraLimits(cfg: LoraBearerConfig): LoraLimits {
  const radio = loraRadio(cfg);
  if (cfg.region === 'eu868') {
    const band = subBandByName(cfg.subBand)!;
    const maxDatagram = Math.min(EU868_MAX_APP_PAYLOAD[cfg.sf] ?? 51, 255 - cfg.frameOverheadBytes);
    const maxFrameMs = loraTimeOnAirMs(radio, maxDatagram + cfg.frameOverheadBytes);
    return {
      radio,
      maxDatagram,
      dutyCycle: band.dutyCycle,
      windowMs: EU868_OBSERVATION_MS,
      windowLimitMs: band.dutyCycle * EU868_OBSERVATION_MS - maxFrameMs,
      maxFrameMs,
      dwellMs: Infinity,
      describe: `EU868 sub-band ${band.name} (${band.lowMhz}-${band.highMhz} MHz) at ${band.dutyCycle * 100} % duty cycle`,
    };
  }
  const fit = maxPayloadWithinMs(radio, US915_DWELL_MS) - cfg.frameOverheadBytes;
  const maxDatagram = Math.max(0, Math.min(fit, 255 - cfg.frameOverheadBytes));
  const maxFrameMs = loraTimeOnAirMs(radio, maxDatagram + cfg.frameOverheadBytes);
  const dutyCycle = (US915_DWELL_MS * US915_DOWNLINK_CHANNELS) / (US915_DWELL_PERIOD_MS * US915_DOWNLINK_CHANNELS);
  return {
    radio,
    maxDatagram,
    dutyCycle,
    windowMs: US915_DWELL_PERIOD_MS,
    windowLimitMs: US915_DWELL_MS * US915_DOWNLINK_CHANNELS - maxFrameMs,
    maxFrameMs,
    dwellMs: US915_DWELL_MS,
    describe: `US915 dwell time ${US915_DWELL_MS} ms per frame over ${US915_DOWNLINK_CHANNELS} downlink channels`,
  };
}

/** Largest power-of-two CoAP block (16..1024) that fits the bearer's datagram. */
export function blockSizeFor(model: BearerModelConfig | undefined): number {
  if (!model) return 1024;
  const max = model.kind === 'lora' ? loraLimits(model).maxDatagram - COAP_BLOCK_OVERHEAD : model.kind === 'udp' ? 1024 : 512;
  let size = 16;
  while (size * 2 <= Math.min(1024, max)) size *= 2;
  return size;
}

export interface TransferEstimate {
  blocks: number;
  blockSize: number;
  /** Bytes that cross the radio, with per-datagram overheads. */
  wireBytes: number;
  /** LoRa: summed time on air; cellular: time the radio is busy receiving. */
  airtimeMs: number;
  /** Wall time one transfer takes when it has the bearer to itself (LoRa: paced by the duty cycle). */
  durationMs: number;
}

export function estimateTransfer(model: BearerModelConfig | undefined, bytes: number, ce: CeLevel = 1): TransferEstimate {
  const blockSize = blockSizeFor(model);
  const blocks = Math.max(1, Math.ceil(bytes / blockSize));
  if (!model || model.kind === 'udp') {
    const wireBytes = bytes + blocks * (COAP_BLOCK_OVERHEAD + 28);
    const rate = model?.linkBytesPerSecond;
    const durationMs = rate ? (wireBytes / rate) * 1000 : 0;
    return { blocks, blockSize, wireBytes, airtimeMs: durationMs, durationMs };
  }
  if (model.kind === 'lora') {
    const limits = loraLimits(model);
    let airtimeMs = 0;
    let remaining = bytes;
    for (let i = 0; i < blocks; i++) {
      const payload = Math.min(blockSize, remaining);
      remaining -= payload;
      airtimeMs += loraTimeOnAirMs(limits.radio, payload + COAP_BLOCK_OVERHEAD + model.frameOverheadBytes);
    }
    const wireBytes = bytes + blocks * (COAP_BLOCK_OVERHEAD + model.frameOverheadBytes);
    return { blocks, blockSize, wireBytes, airtimeMs, durationMs: airtimeMs / limits.dutyCycle };
  }
  return cellularEstimate(model, bytes, ce, blockSize, blocks);
}

function cellularEstimate(model: CellularBearerConfig, bytes: number, ce: CeLevel, blockSize: number, blocks: number): TransferEstimate {
  const wireBytes = bytes + blocks * (COAP_BLOCK_OVERHEAD + model.datagramOverheadBytes);
  const durationMs = cellularTransferMs(model, ce, bytes + blocks * COAP_BLOCK_OVERHEAD, blockSize);
  return { blocks, blockSize, wireBytes, airtimeMs: durationMs - blocks * model.rttMs, durationMs };
}
