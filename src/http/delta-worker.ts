/**
 * Worker-thread body for one esp_delta_ota patch build: the detools stream and its heatshrink coding are
 * plain JavaScript loops over megabytes, so they run here, not on the event loop that serves downloads.
 * Started per build (builds are rare: one per move) by delta-patches.ts with the same tsx bootstrap as
 * src/delta/off-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyDetoolsPatch } from '../delta/detools/apply.ts';
import { ESP_DELTA_OTA_HEADER_SIZE, wrapEspDeltaOta } from '../delta/detools/esp-delta-ota.ts';
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
// Never store a patch that does not reproduce the release (the worker's error fails the build).
if (!applyDetoolsPatch(base, file.subarray(ESP_DELTA_OTA_HEADER_SIZE)).equals(Buffer.from(next.buffer, next.byteOffset, next.byteLength))) throw new Error('built esp_delta_ota patch does not reproduce the release');
// copied, not transferred: a Buffer may share its memory with the pool
parentPort!.postMessage(file);
