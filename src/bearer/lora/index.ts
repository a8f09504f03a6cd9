/** LoRa bearer API: the unicast transport for the CoAP server, multicast FUOTA sessions, TS003 clock sync, codecs. */
import type { DaemonContext } from '../../context.ts';
import { ChirpStackClient } from './chirpstack/client.ts';
import type { LoraConfig } from './config.ts';
import { LoraTransport } from './transport.ts';

export { loraConfigSchema, type LoraConfig } from './config.ts';
export { LoraTransport, type LoraDeviceState } from './transport.ts';
export { ChirpStackClient } from './chirpstack/client.ts';
export { MulticastApi } from './chirpstack/multicast-api.ts';
export { FuotaSession, type FuotaMember, type FuotaResult } from './fuota/session.ts';
export { FecDecoder, fecDecoderRamBytes } from './fuota/fec-decoder.ts';
export { LoraMulticastService, type MulticastDeps } from './fuota/service.ts';
export { MulticastRepo, type SessionRow, type SessionMemberRow } from './fuota/store.ts';
export { multicastCandidates, loraIdentities } from './fuota/candidates.ts';
export { ClockSync, ClockSyncService, type ClockPort } from './clock-sync-service.ts';
export { blockSzxForDr, maxPayload } from './regional.ts';
export { timeOnAirMs } from './airtime.ts';

/** The LoRa bearer as the daemon builds it from `lora:` in furrow.yaml; it owns its ChirpStack client. */
export function createLoraTransport(ctx: DaemonContext, cfg: LoraConfig): LoraTransport {
  const client = new ChirpStackClient({
    mqttUrl: cfg.chirpstack.mqttUrl,
    username: cfg.chirpstack.username,
    password: cfg.chirpstack.password,
    applicationId: cfg.chirpstack.applicationId,
    topicPrefix: cfg.chirpstack.topicPrefix,
    log: ctx.log,
  });
  const classC = new Set(Object.entries(cfg.devices).filter(([, d]) => d.class === 'C').map(([eui]) => eui));
  return new LoraTransport({ name: cfg.name, client, log: ctx.log, fPortBase: cfg.unicast.fPortBase, defaultDr: cfg.unicast.defaultDr, classC });
}
