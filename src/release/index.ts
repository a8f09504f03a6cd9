export { parseEspImage, EspImageError, CHIP_IDS, type EspImage, type EspAppDesc, type EspSegment, type EspImageCheck } from './esp-image.ts';
export { BlobStore, sha256Hex } from './blob-store.ts';
export { addRelease, checkName, type AddReleaseInput, type AddReleaseResult } from './ingest.ts';
export { signStatement, verifyReleaseStatement, encodeStatement, decodeStatement, type ReleaseStatement } from './statement.ts';
export { generateKeyFiles, loadPrivateKey, loadPublicKey } from './keys.ts';
export { ReleaseWatcher } from './watcher.ts';
