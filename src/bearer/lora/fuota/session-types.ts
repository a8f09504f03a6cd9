/** Options, results and checkpoints of a FuotaSession (session.ts). */
import type { Logger } from '../../../log.ts';
import type { TransmitGate } from '../../../policy.ts';
import type { MulticastApi } from '../chirpstack/multicast-api.ts';
import type { ClockPort } from '../clock-sync-service.ts';
import type { LoraConfig } from '../config.ts';
import type { LoraTransport } from '../transport.ts';

export interface FuotaMember {
  devEui: string;
  /** LoRaWAN 1.0.x GenAppKey of the device; wraps the multicast key (TS005 §3.3). */
  genAppKey: Buffer;
}

export interface FuotaSessionOptions {
  transport: LoraTransport;
  api: MulticastApi;
  /** The scheduler's gate; every fragment is admitted on `gateBearer` before it is queued. */
  gate: TransmitGate;
  gateBearer: string;
  /**
   * Asked before every fragment, ahead of the gate: a hold the rollout puts on its broadcast (paused, or
   * outside its maintenance windows). The broadcast waits it out; unlike the gate, no wait is too long.
   */
  hold?: () => { seconds: number; reason: string } | undefined;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  log: Logger;
  applicationId: string;
  config: LoraConfig['multicast'];
  members: FuotaMember[];
  data: Buffer;
  fragIndex?: number;
  mcGroupId?: number;
  /** Wait for setup/status answers this long before asking again (devices answer after their next uplink). */
  answerTimeoutMs?: number;
  maxAttempts?: number;
  /** After the multicast, how long devices get to fetch their missing fragments by unicast. */
  repairDeadlineMs?: number;
  onProgress?: (sent: number, total: number) => void;
  /** Cancels the session; with reason 'suspend' (daemon stopping) the ChirpStack group is kept for a resume. */
  signal?: AbortSignal;
  /** TS003: members whose clock is unknown are asked to resync before the Class C session is announced. */
  clock?: ClockPort;
  /** Continue a session a stopped daemon left: same keys, group and fragment size; members keep their state. */
  resume?: FuotaResume;
  /** Checkpoints for the caller to persist: the group is set up, a phase begins, a member's state changed. */
  onStarted?: (s: FuotaResume) => void;
  onPhase?: (phase: 'setup' | 'broadcast' | 'status' | 'repair') => void;
  onMember?: (devEui: string, r: MemberResult) => void;
}

export interface FuotaResume {
  mcKey: Buffer;
  mcAddr: number;
  groupId: string;
  fragSize: number;
  parity: number;
  /** Fragments already handed to ChirpStack. */
  sent: number;
  members: Map<string, MemberResult>;
}

/** Runs `fn` over `items` with at most `limit` in flight (each device's queue stays in order). */
export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export type MemberState = 'setup' | 'ready' | 'complete' | 'failed';

export interface MemberResult {
  state: MemberState;
  reason?: string;
  missingAfterMulticast?: number;
  repairFragments: number;
}

export interface FuotaResult {
  nbFrag: number;
  fragSize: number;
  parity: number;
  members: Map<string, MemberResult>;
  /** One multicast transmission reaches every member: counted once. */
  multicast: { frames: number; frmBytes: number; airtimeMs: number };
  /** Setup, status and repair frames to single devices. */
  unicast: { frames: number; frmBytes: number; airtimeMs: number };
}
