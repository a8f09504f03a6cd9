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

/**
 * What the radio scheduler advises the CoAP layer about a bearer whose every downlink costs scarce
 * airtime (LoRa duty cycle). Without it (or for other bearers) the layer behaves as on plain UDP.
 */
export interface RadioAdvice {
  /** True when a reply costs duty-cycle airtime: a short refusal is then not answered at all. */
  dutyCycled(bearer: string): boolean;
  /** Milliseconds a device should leave between block requests of a transfer of `bytes` (check-in key 9). */
  blockIntervalMs(bearer: string, bytes: number): number | undefined;
  /** Seconds until a device with nothing to do checks in again (check-in key 2 with decision 0). */
  idleCheckinSeconds(bearer: string): number | undefined;
}

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
  radio?: RadioAdvice | undefined;
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
