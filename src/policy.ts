/**
 * Contracts between the CoAP server and the modules that decide for it. The CoAP layer asks; the
 * rollout engine and the scheduler answer. Until those exist, the CoAP module uses simple defaults.
 */

export interface CheckinFacts {
  deviceId: string;
  product: string;
  /** SHA-256 hex of the image the device runs. */
  runningSha256: string;
  bearer: string;
  rsrp?: number;
  snr?: number;
  battery?: number;
  /** The transfer the device says it is in the middle of, if any. */
  inProgress?: { patchId: string; offset: number };
}

export type UpdateDecision =
  | { kind: 'none' }
  | { kind: 'later'; retryAfterSeconds: number; reason: string }
  | { kind: 'update'; releaseSha256: string; rolloutId?: string };

/** Rollout engine: is this device due an update now, and to which release? */
export interface UpdatePolicy {
  decide(facts: CheckinFacts): UpdateDecision;
}

export type AdmitResult = { ok: true } | { ok: false; retryAfterSeconds: number; reason: string };

/**
 * Scheduler: may these bytes leave on this bearer now? Called where bytes leave (each Block2 reply),
 * so a duty cycle or byte budget is enforced, not just planned.
 */
export interface TransmitGate {
  admit(bearer: string, deviceId: string, bytes: number): AdmitResult;
}

export interface PatchInfo {
  /** SHA-256 hex of the patch bytes; also its blob id in the BlobStore. */
  id: string;
  size: number;
  /** 'delta' applies to a base image; 'full' is the whole image in furrow patch format (base size 0). */
  kind: 'delta' | 'full';
  fromSha256: string | null;
  toSha256: string;
}

/**
 * Delta module: the patch to take a device from one image to another. `get` never blocks; when no patch
 * is ready it returns undefined and `request` queues a build (off the event loop), so the CoAP layer
 * answers "come back later" meanwhile.
 */
export interface PatchProvider {
  get(fromSha256: string, toSha256: string): PatchInfo | undefined;
  request(fromSha256: string, toSha256: string): void;
}
