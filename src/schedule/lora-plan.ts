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
 * Frame sizes are the ones the gateway really sends (at SF9 one byte more can be a symbol group more):
 * a plan that is short books devices on top of each other, and the overlap comes back as unanswered
 * block requests and second "come back later" answers. Estimates that cannot be exact (the manifest,
 * the device's token) take the smallest usual value, so a booking errs early rather than late (late
 * leaves the channel idle). A delivery manifest (MANIFEST.md, COSE_Sign1 ES256) is 270-300 bytes.
 */
const MANIFEST_BYTES = 272;
/**
 * A Block2 reply's CoAP bytes besides the payload: 4 header + 2 token + 9 ETag + 3 Block2 (option delta
 * 19 from ETag takes an extension byte) + 1 marker. Block 0 also carries Content-Format (2, which
 * spares Block2 its extension byte) and Size2 (3): 4 more. Later blocks carry no Content-Format on a
 * duty cycle (PROTOCOL.md).
 */
export const BLOCK_REPLY_HEADER = 19;
export const FIRST_BLOCK_EXTRA = 4;
/**
 * Replies a transfer needs besides blocks: the update answer (~107 bytes with key 9), the ACK of the
 * "applied" report (6) and of the final report with its next check-in (14).
 */
const CONTROL_REPLIES = [107, 6, 14];
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
      airtimeMs += frame(Math.min(left, size) + BLOCK_REPLY_HEADER + (left === total ? FIRST_BLOCK_EXTRA : 0));
      blocks++;
    }
  }
  for (const c of CONTROL_REPLIES) airtimeMs += frame(c);
  // The scheduler paces the channel at the duty cycle less the control reserve.
  const paced = limits.dutyCycle * (1 - model.controlReservePercent / 100);
  const laneMs = (model.maxConcurrentTransfers * airtimeMs) / paced;
  return { blocks, airtimeMs, laneMs, blockIntervalMs: (INTERVAL_SHARE * laneMs) / blocks, laterMs: frame(LATER_REPLY) / paced };
}
