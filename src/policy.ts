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
