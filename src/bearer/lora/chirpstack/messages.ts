import { z } from 'zod';
import { drFromSpreadingFactor } from '../regional.ts';

/**
 * ChirpStack v4 MQTT integration payloads (JSON marshaler; `api/proto/integration/integration.proto`).
 * ChirpStack encodes protobuf as JSON, which omits fields at their default value (dr 0, fCnt 0,
 * empty data, CLASS_A), so everything but the device EUI is optional here.
 */

export type EventKind = 'up' | 'ack' | 'txack';

/** `<prefix>application/<application id>/device/<dev eui>/event/<event>` (ChirpStack v4 default template). */
export function eventTopic(prefix: string, applicationId: string, devEui: string, event: EventKind | '+'): string {
  return `${prefix}application/${applicationId}/device/${devEui}/event/${event}`;
}

export function commandDownTopic(prefix: string, applicationId: string, devEui: string): string {
  return `${prefix}application/${applicationId}/device/${devEui}/command/down`;
}

const hexEui = z.string().regex(/^[0-9a-fA-F]{16}$/, 'devEui must be 16 hex digits');
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'data must be base64');

const deviceInfo = z.looseObject({
  devEui: hexEui,
  applicationId: z.string().optional(),
  deviceName: z.string().optional(),
  deviceClassEnabled: z.enum(['CLASS_A', 'CLASS_B', 'CLASS_C']).optional(),
});

export const uplinkEventSchema = z.looseObject({
  deduplicationId: z.string().optional(),
  time: z.string().optional(),
  deviceInfo,
  devAddr: z.string().optional(),
  adr: z.boolean().optional(),
  dr: z.number().int().min(0).max(15).optional(),
  fCnt: z.number().int().min(0).optional(),
  fPort: z.number().int().min(0).max(255).optional(),
  confirmed: z.boolean().optional(),
  data: base64.optional(),
  rxInfo: z
    .array(
      z.looseObject({
        gatewayId: z.string().optional(),
        rssi: z.number().optional(),
        snr: z.number().optional(),
        // Reception time (integration.proto UplinkRxInfo): gwTime (4.x; `time` before 4.3) from a gateway
        // with GPS, timeSinceGpsEpoch as a protobuf Duration ("1356091325.709920s"), nsTime from the NS.
        gwTime: z.string().optional(),
        time: z.string().optional(),
        nsTime: z.string().optional(),
        timeSinceGpsEpoch: z.string().optional(),
      }),
    )
    .optional(),
  txInfo: z
    .looseObject({
      frequency: z.number().optional(),
      modulation: z.looseObject({ lora: z.looseObject({ bandwidth: z.number().optional(), spreadingFactor: z.number().int().optional() }).optional() }).optional(),
    })
    .optional(),
});

export const ackEventSchema = z.looseObject({
  deviceInfo,
  queueItemId: z.string().optional(),
  acknowledged: z.boolean().optional(),
  fCntDown: z.number().int().optional(),
});

export const txAckEventSchema = z.looseObject({
  downlinkId: z.number().optional(),
  deviceInfo,
  queueItemId: z.string().optional(),
  fCntDown: z.number().int().optional(),
  gatewayId: z.string().optional(),
});

export interface Uplink {
  devEui: string;
  fPort: number;
  data: Buffer;
  fCnt: number;
  /** EU868 data rate the frame came in on. */
  dr: number;
  confirmed: boolean;
  deviceClass: 'A' | 'B' | 'C';
  rssi?: number;
  snr?: number;
  /** When the frame was received: GPS seconds from a GPS gateway (timeSinceGpsEpoch), else UTC unix ms. */
  rxTime?: { gpsSeconds: number } | { utcMs: number };
}

/** Reception time, best source first: a GPS gateway's own GPS time, its UTC time, the NS time, the event time. */
function receptionTime(e: z.infer<typeof uplinkEventSchema>): Uplink['rxTime'] {
  for (const rx of e.rxInfo ?? []) {
    const m = rx.timeSinceGpsEpoch ? /^(\d+(?:\.\d+)?)s$/.exec(rx.timeSinceGpsEpoch) : null;
    if (m) return { gpsSeconds: Number(m[1]) };
  }
  for (const field of ['gwTime', 'time', 'nsTime'] as const) {
    for (const rx of e.rxInfo ?? []) {
      const t = rx[field] ? Date.parse(rx[field]) : NaN;
      if (Number.isFinite(t)) return { utcMs: t };
    }
  }
  const t = e.time ? Date.parse(e.time) : NaN;
  return Number.isFinite(t) ? { utcMs: t } : undefined;
}

export interface Ack {
  devEui: string;
  queueItemId: string;
  acknowledged: boolean;
  fCntDown: number;
}

export interface TxAck {
  devEui: string;
  queueItemId: string;
  fCntDown: number;
  gatewayId: string;
}

export class ChirpStackMessageError extends Error {}

function parseJson(topic: string, payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new ChirpStackMessageError(`${topic}: not JSON (${(err as Error).message}); is ChirpStack's MQTT integration set to json marshaling?`);
  }
}

function zodProblem(topic: string, err: z.ZodError): ChirpStackMessageError {
  const first = err.issues[0]!;
  return new ChirpStackMessageError(`${topic}: ${first.path.join('.') || '(root)'}: ${first.message}`);
}

export function parseUplink(topic: string, payload: Buffer): Uplink {
  const r = uplinkEventSchema.safeParse(parseJson(topic, payload));
  if (!r.success) throw zodProblem(topic, r.error);
  const e = r.data;
  const sf = e.txInfo?.modulation?.lora?.spreadingFactor;
  const bw = e.txInfo?.modulation?.lora?.bandwidth;
  const dr = e.dr ?? (sf !== undefined ? drFromSpreadingFactor(sf, bw ?? 125_000) : undefined) ?? 0;
  const best = e.rxInfo?.reduce<{ rssi?: number; snr?: number } | undefined>((a, b) => (a === undefined || (b.rssi ?? -999) > (a.rssi ?? -999) ? b : a), undefined);
  const cls = e.deviceInfo.deviceClassEnabled;
  const up: Uplink = {
    devEui: e.deviceInfo.devEui.toLowerCase(),
    fPort: e.fPort ?? 0,
    data: Buffer.from(e.data ?? '', 'base64'),
    fCnt: e.fCnt ?? 0,
    dr,
    confirmed: e.confirmed ?? false,
    deviceClass: cls === 'CLASS_C' ? 'C' : cls === 'CLASS_B' ? 'B' : 'A',
  };
  if (best?.rssi !== undefined) up.rssi = best.rssi;
  if (best?.snr !== undefined) up.snr = best.snr;
  const rxTime = receptionTime(e);
  if (rxTime) up.rxTime = rxTime;
  return up;
}

export function parseAck(topic: string, payload: Buffer): Ack {
  const r = ackEventSchema.safeParse(parseJson(topic, payload));
  if (!r.success) throw zodProblem(topic, r.error);
  return { devEui: r.data.deviceInfo.devEui.toLowerCase(), queueItemId: r.data.queueItemId ?? '', acknowledged: r.data.acknowledged ?? false, fCntDown: r.data.fCntDown ?? 0 };
}

export function parseTxAck(topic: string, payload: Buffer): TxAck {
  const r = txAckEventSchema.safeParse(parseJson(topic, payload));
  if (!r.success) throw zodProblem(topic, r.error);
  return { devEui: r.data.deviceInfo.devEui.toLowerCase(), queueItemId: r.data.queueItemId ?? '', fCntDown: r.data.fCntDown ?? 0, gatewayId: r.data.gatewayId ?? '' };
}

/** DownlinkCommand as ChirpStack v4 reads it from `.../command/down`. */
export interface DownlinkCommand {
  id: string;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: string;
}

export const downlinkCommandSchema = z.looseObject({
  id: z.string().optional(),
  devEui: hexEui,
  confirmed: z.boolean().optional(),
  fPort: z.number().int().min(1).max(223),
  data: base64.optional(),
});

export function buildDownlink(id: string, devEui: string, fPort: number, data: Buffer, confirmed: boolean): DownlinkCommand {
  if (!Number.isInteger(fPort) || fPort < 1 || fPort > 223) throw new ChirpStackMessageError(`FPort ${fPort} is outside 1..223 (LoRaWAN application ports)`);
  return { id, devEui, confirmed, fPort, data: data.toString('base64') };
}
