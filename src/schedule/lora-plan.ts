import { blockSizeFor, type LoraLimits } from './bearer-model.ts';
import type { LoraBearerConfig } from './config.ts';
import { loraTimeOnAirMs } from './lora-airtime.ts';

/** What one device's update costs a LoRa channel, for the transfer calendar and the block cadence. */
export interface LoraTransferPlan {
  /** Block requests the device makes (manifest and patch). */
  blocks: number;
  /** Time on air of the downlinks the transfer needs: blocks, the update answer, report ACKs. */
  airtimeMs: number;
  /** Time one lane of the channel is booked: airtime at the paced duty cycle, times the lanes sharing it. */
  laneMs: number;
  /**
   * Pace of the device's block requests: its lane time spread over its blocks, less a tenth kept for
   * what the device spends besides asking (uplink duty-cycle waits, the check-in, retransmissions), so
   * the transfer ends within its booking. The gate takes up the little extra demand.
   */
  blockIntervalMs: number;
  /** Channel time one "come back later" answer takes at the paced duty cycle. */
  laterMs: number;
}

/**
 * Estimates err a little low on purpose: a device booked slightly early overlaps the one before it
 * (the gate paces the blocks, nothing breaks), while one booked late leaves the channel idle.
 * A delivery manifest (MANIFEST.md, COSE_Sign1 ES256) is 270-300 bytes.
 */
const MANIFEST_BYTES = 256;
/** A Block2 reply's CoAP bytes besides the payload: 4 header + 2 token + 9 ETag + 2 Content-Format + 1 Block2 (+1 marker). */
const BLOCK_REPLY_HEADER = 18;
/** Replies a transfer needs besides blocks: the update answer (~100 bytes), two report ACKs. */
const CONTROL_REPLIES = [100, 6, 6];
/** A "come back later" answer: CoAP header, token, Content-Format, {1: 1, 2: seconds}. */
const LATER_REPLY = 15;
const INTERVAL_SHARE = 1;

export function loraTransferPlan(model: LoraBearerConfig, limits: LoraLimits, patchBytes: number): LoraTransferPlan {
  const size = blockSizeFor(model);
  const frame = (datagram: number) => loraTimeOnAirMs(limits.radio, Math.min(255, datagram + model.frameOverheadBytes));
  let airtimeMs = 0;
  let blocks = 0;
  for (const total of [MANIFEST_BYTES, patchBytes]) {
    for (let left = total; left > 0; left -= size) {
      airtimeMs += frame(Math.min(left, size) + BLOCK_REPLY_HEADER);
      blocks++;
    }
  }
  for (const c of CONTROL_REPLIES) airtimeMs += frame(c);
  // The scheduler paces the channel at the duty cycle less the control reserve.
  const paced = limits.dutyCycle * (1 - model.controlReservePercent / 100);
  const laneMs = (model.maxConcurrentTransfers * airtimeMs) / paced;
  return { blocks, airtimeMs, laneMs, blockIntervalMs: (INTERVAL_SHARE * laneMs) / blocks, laterMs: frame(LATER_REPLY) / paced };
}
