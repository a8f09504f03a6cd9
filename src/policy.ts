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
  /** Highest furrow patch format the device decodes (check-in key 10); absent = 1. */
  patchFormat?: number;
  /** The device takes whole images only (stock HTTP clients): no patch is asked for; a move costs the release size. */
  fullImage?: boolean;
}

export type UpdateDecision =
  | { kind: 'none' }
  | { kind: 'later'; retryAfterSeconds: number; reason: string }
  /** `patchId`: a patch the device already holds for this move (LoRa multicast), to offer before any other. */
  | { kind: 'update'; releaseSha256: string; rolloutId?: string; patchId?: string };

/** Rollout engine: is this device due an update now, and to which release? */
export interface UpdatePolicy {
  decide(facts: CheckinFacts): UpdateDecision;
}

export type AdmitResult = { ok: true } | { ok: false; retryAfterSeconds: number; reason: string };

/** Which transfer a block belongs to: lets a gate hold one update without knowing how it was chosen. */
export interface TransferRef {
  patchId: string;
  releaseSha256: string;
}

/**
 * Scheduler: may these bytes leave on this bearer now? Called where bytes leave (each Block2 reply),
 * so a duty cycle or byte budget is enforced, not just planned. `transfer` is given for patch blocks;
 * the rollout engine uses it to hold a transfer through a maintenance window that began mid-download.
 */
export interface TransmitGate {
  admit(bearer: string, deviceId: string, bytes: number, transfer?: TransferRef): AdmitResult;
}

/**
 * One gate made of several, asked in order; the first refusal wins and later gates are not asked, so a
 * gate that charges what it admits (the scheduler) must come last.
 */
export function chainGates(...gates: TransmitGate[]): TransmitGate {
  return {
    admit(bearer, deviceId, bytes, transfer) {
      for (const g of gates) {
        const r = g.admit(bearer, deviceId, bytes, transfer);
        if (!r.ok) return r;
      }
      return { ok: true };
    },
  };
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
  /**
   * `formatCap`: the highest furrow patch format the device decodes (check-in key 10; 1 when it does not
   * say). `heldId`: the patch the device is downloading or already holds; offered again when it still
   * fits, so a new build for the same move never makes a device start over.
   */
  get(fromSha256: string, toSha256: string, formatCap: number, heldId?: string): PatchInfo | undefined;
  request(fromSha256: string, toSha256: string, formatCap: number): void;
}
