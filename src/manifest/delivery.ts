/**
 * The delivery manifest (MANIFEST.md): what the gateway signs for one device and one patch, and the
 * same checks the device makes, for tests and the TypeScript device.
 */
import type { KeyObject } from 'node:crypto';
import { FurrowError } from '../errors.ts';
import { asMap, decodeCbor, encodeCbor, toBytes, toUint, uint } from './cbor.ts';
import { sign1, verify1 } from './cose.ts';

export const MANIFEST_VERSION = 1;
export const PATCH_FORMAT_FURROW_V1 = 1;

export interface DeliveryManifest {
  sequence: number;
  product: string;
  deviceId: string;
  /** Absent for a full image. */
  baseSha256: Buffer | undefined;
  patchSha256: Buffer;
  patchSize: number;
  patchFormat: number;
  chunkTableDigest: Buffer;
  resultSha256: Buffer;
  resultSize: number;
  secureVersion: number;
  /** COSE_Sign1 release statement, absent when the release is unsigned. */
  releaseStatement: Buffer | undefined;
  version: string;
}

const K = {
  format: 1,
  sequence: 2,
  product: 3,
  deviceId: 4,
  base: 5,
  patch: 6,
  patchSize: 7,
  patchFormat: 8,
  tableDigest: 9,
  result: 10,
  resultSize: 11,
  secureVersion: 12,
  statement: 13,
  version: 14,
} as const;

export function encodeManifestPayload(m: DeliveryManifest): Buffer {
  const map = new Map<number, unknown>();
  map.set(K.format, MANIFEST_VERSION);
  map.set(K.sequence, uint(m.sequence));
  map.set(K.product, m.product);
  map.set(K.deviceId, m.deviceId);
  if (m.baseSha256) map.set(K.base, m.baseSha256);
  map.set(K.patch, m.patchSha256);
  map.set(K.patchSize, uint(m.patchSize));
  map.set(K.patchFormat, m.patchFormat);
  map.set(K.tableDigest, m.chunkTableDigest);
  map.set(K.result, m.resultSha256);
  map.set(K.resultSize, uint(m.resultSize));
  map.set(K.secureVersion, uint(m.secureVersion));
  if (m.releaseStatement) map.set(K.statement, m.releaseStatement);
  map.set(K.version, m.version);
  return encodeCbor(map);
}

export function signManifest(m: DeliveryManifest, gatewayKey: KeyObject): Buffer {
  return sign1(encodeManifestPayload(m), gatewayKey);
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new FurrowError('MANIFEST_INVALID', `delivery manifest: ${what}`);
  return v;
}

function digest(v: unknown, what: string): Buffer {
  const b = toBytes(v);
  if (!b || b.length !== 32) throw new FurrowError('MANIFEST_INVALID', `delivery manifest: ${what} must be a 32-byte byte string`);
  return b;
}

/** Verifies the gateway signature and decodes the payload; throws on any missing or mistyped field. */
export function verifyManifest(bytes: Uint8Array, gatewayPublicKey: KeyObject | KeyObject[]): DeliveryManifest {
  const { payload } = verify1(bytes, gatewayPublicKey);
  const m = asMap(decodeCbor(payload), 'delivery manifest payload');
  const format = toUint(m.get(K.format));
  if (format !== MANIFEST_VERSION) throw new FurrowError('MANIFEST_INVALID', `delivery manifest format ${String(m.get(K.format))} is not ${MANIFEST_VERSION}`);
  const str = (k: number, what: string) => {
    const v = m.get(k);
    if (typeof v !== 'string') throw new FurrowError('MANIFEST_INVALID', `delivery manifest: ${what} must be a text string`);
    return v;
  };
  const base = m.get(K.base);
  const statement = m.get(K.statement);
  return {
    sequence: need(toUint(m.get(K.sequence)), 'sequence missing'),
    product: str(K.product, 'product'),
    deviceId: str(K.deviceId, 'device id'),
    baseSha256: base === undefined ? undefined : digest(base, 'base SHA-256'),
    patchSha256: digest(m.get(K.patch), 'patch SHA-256'),
    patchSize: need(toUint(m.get(K.patchSize)), 'patch size missing'),
    patchFormat: need(toUint(m.get(K.patchFormat)), 'patch format missing'),
    chunkTableDigest: digest(m.get(K.tableDigest), 'chunk table digest'),
    resultSha256: digest(m.get(K.result), 'result SHA-256'),
    resultSize: need(toUint(m.get(K.resultSize)), 'result size missing'),
    secureVersion: need(toUint(m.get(K.secureVersion)), 'secure version missing'),
    releaseStatement: statement === undefined ? undefined : need(toBytes(statement), 'release statement must be a byte string'),
    version: str(K.version, 'version'),
  };
}
