/**
 * Worker-thread body for one esp_delta_ota patch build: the detools stream and its heatshrink coding are
 * plain JavaScript loops over megabytes, so they run here, not on the event loop that serves downloads.
 * Started per build (builds are rare: one per move) by delta-patches.ts with the same tsx bootstrap as
 * src/delta/off-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wrapEspDeltaOta } from '../delta/detools/esp-delta-ota.ts';
import { ESP_DELTA_OTA_HEATSHRINK } from '../delta/detools/heatshrink.ts';
import { encodeDetoolsPatch } from '../delta/detools/patch.ts';
import type { Match } from '../delta/matches.ts';

export interface DeltaBuildInput {
  base: Uint8Array;
  next: Uint8Array;
  matches: Match[];
}

const { base, next, matches } = workerData as DeltaBuildInput;
const file = wrapEspDeltaOta(base, encodeDetoolsPatch(base, next, matches, { kind: 'heatshrink', ...ESP_DELTA_OTA_HEATSHRINK }));
// copied, not transferred: a Buffer may share its memory with the pool
parentPort!.postMessage(file);
