/** Delta module API: furrow patch format v1/v2 (FORMAT.md), encoder, reference applier, patch cache. */
export { PatchError } from './errors.ts';
export {
  bodiesStart,
  bodyLen,
  type ChunkEntry,
  type CoderParams,
  ENTRY_SIZE,
  FORMAT_VERSION,
  HEADER_SIZE,
  MIN_CHUNK_SIZE,
  parseChunkTable,
  parsePatchHeader,
  type PatchHeader,
  type PatchLayout,
  readPatchLayout,
} from './format.ts';
export { applyChunk, applyPatch, type ChunkOutput, StreamingApplier } from './apply.ts';
export { DEFAULT_CHUNK_SIZE, DEFAULT_CODERS, encodeFullImage, encodePatch, type EncodeOptions } from './encode.ts';
export { coderRamBytes } from './lzma-decoder.ts';
export { PatchBuilder, type BuildProgress, type BuildResult } from './builder.ts';
export { DeltaService } from './service.ts';
