/**
 * Request authentication for POST /c and /r (PROTOCOL.md "Request authentication"): an envelope
 * `[device_id, counter, body, mac]` with a truncated HMAC-SHA256 under the device key and a strictly
 * increasing counter. Bad MAC, unknown device and replayed counter all answer 4.01, so the gateway
 * does not reveal which ids exist; only an authentic stale counter learns the last accepted one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { asMap, decodeCbor, encodeCbor, toBytes, toUint, uint, type CborMap } from '../manifest/cbor.ts';
import type { DeviceRepo, DeviceRow } from '../store/devices.ts';
import { BAD_REQUEST, UNAUTHORIZED } from './codes.ts';

export const MAC_BYTES = 16;
const UNKNOWN_DEVICE_KEY = Buffer.alloc(32);
export type PathByte = 'c' | 'r';

export function requestMac(key: Buffer, path: PathByte, deviceId: string, counter: number | bigint, body: Buffer): Buffer {
  const ctr = Buffer.alloc(8);
  ctr.writeBigUInt64BE(BigInt(counter));
  return createHmac('sha256', key)
    .update(Buffer.from(path, 'ascii'))
    .update(Buffer.from(deviceId, 'utf8'))
    .update(Buffer.from([0]))
    .update(ctr)
    .update(body)
    .digest()
    .subarray(0, MAC_BYTES);
}

/** What a device sends (used by the TypeScript test device and the simulator tests). */
export function encodeEnvelope(key: Buffer, path: PathByte, deviceId: string, counter: number, bodyMap: Map<number, unknown>): Buffer {
  const body = encodeCbor(bodyMap);
  return encodeCbor([deviceId, uint(counter), body, requestMac(key, path, deviceId, counter, body)]);
}

export type AuthResult =
  | { ok: true; device: DeviceRow; counter: number; body: CborMap }
  | { ok: false; code: number; message: string; lastCounter?: number; deviceId?: string };

export class RequestAuthenticator {
  constructor(private readonly devices: DeviceRepo) {}

  check(path: PathByte, payload: Buffer): AuthResult {
    let env: unknown;
    try {
      env = decodeCbor(payload);
    } catch (err) {
      return { ok: false, code: BAD_REQUEST, message: `request body: ${(err as Error).message}` };
    }
    if (!Array.isArray(env) || env.length !== 4) return { ok: false, code: BAD_REQUEST, message: 'request body must be the envelope [device_id, counter, body, mac]' };
    const [id, ctr, body, mac] = env as unknown[];
    const counter = toUint(ctr);
    const bodyBytes = toBytes(body);
    const macBytes = toBytes(mac);
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) return { ok: false, code: BAD_REQUEST, message: 'envelope device_id must be a text string of 1..64 characters' };
    if (counter === undefined) return { ok: false, code: BAD_REQUEST, message: 'envelope counter must be an unsigned integer below 2^53', deviceId: id };
    if (!bodyBytes) return { ok: false, code: BAD_REQUEST, message: 'envelope body must be a byte string', deviceId: id };
    if (!macBytes || macBytes.length !== MAC_BYTES) return { ok: false, code: BAD_REQUEST, message: `envelope mac must be a ${MAC_BYTES}-byte byte string`, deviceId: id };
    const keyRow = this.devices.key(id);
    // An unknown id costs the same HMAC as a known one, so response timing does not reveal which ids exist.
    const expected = requestMac(keyRow?.key ?? UNKNOWN_DEVICE_KEY, path, id, counter, bodyBytes);
    if (!keyRow?.key || !timingSafeEqual(expected, macBytes)) {
      return { ok: false, code: UNAUTHORIZED, message: 'request not authenticated', deviceId: id };
    }
    if (!this.devices.advanceCounter(id, counter)) {
      return { ok: false, code: UNAUTHORIZED, message: `counter ${counter} already used`, lastCounter: this.devices.key(id)?.lastCounter ?? 0, deviceId: id };
    }
    let map: CborMap;
    try {
      map = asMap(decodeCbor(bodyBytes), 'request body');
    } catch (err) {
      return { ok: false, code: BAD_REQUEST, message: (err as Error).message, deviceId: id };
    }
    const device = this.devices.get(id);
    if (!device) return { ok: false, code: UNAUTHORIZED, message: 'request not authenticated', deviceId: id };
    return { ok: true, device, counter, body: map };
  }
}
