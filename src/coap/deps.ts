import type { KeyObject } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import type { PatchProvider, TransmitGate, UpdatePolicy } from '../policy.ts';
import type { DeviceRepo } from '../store/devices.ts';
import type { ReleaseRepo } from '../store/releases.ts';
import type { TransferStore } from '../store/transfers.ts';
import type { RequestAuthenticator } from './auth.ts';
import type { DeliveryRepo } from './deliveries.ts';
import type { PatchCache } from './patch-cache.ts';

/** What the resources share; built once by CoapService. */
export interface ResourceDeps {
  log: Logger;
  clock: Clock;
  events: EventBus;
  devices: DeviceRepo;
  releases: ReleaseRepo;
  deliveries: DeliveryRepo;
  transfers: TransferStore;
  patches: PatchProvider;
  patchBytes: PatchCache;
  policy: UpdatePolicy;
  gate: TransmitGate;
  auth: RequestAuthenticator;
  gatewayKey: { privateKey: KeyObject };
  limits: {
    /** Largest SZX served on any bearer (config); a bearer's datagram size may lower it. */
    maxSzx: number;
    maxRequestPayload: number;
    /** Seconds a device waits when its patch is still being built. */
    buildRetrySeconds: number;
    /** transfer.progress is emitted at most this often per transfer. */
    progressIntervalMs: number;
  };
}
