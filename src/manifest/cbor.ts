import { Decoder, Encoder, Tag } from 'cbor-x';

export { Tag };

/**
 * One CBOR profile for everything furrow puts on air or signs: definite lengths, smallest headers
 * (`variableMapSize`), byte strings untagged, no cbor-x records/structured-clone extensions, maps as
 * `Map` so integer keys stay integers. The device side (PROTOCOL.md, MANIFEST.md) decodes plain
 * RFC 8949 CBOR, so nothing cbor-x specific may leak into the bytes.
 */
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  structuredClone: false,
});
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false, structuredClone: false });

/**
 * cbor-x writes integers above 2^32 as float64; a counter or size there must stay an integer on air,
 * so callers pass numbers through `uint()` before encoding.
 */
export function uint(n: number | bigint): number | bigint {
  if (typeof n === 'bigint') return n;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not an unsigned integer: ${n}`);
  return n > 0xffffffff ? BigInt(n) : n;
}

export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(value);
}

export class CborDecodeError extends Error {
  override readonly name = 'CborDecodeError';
}

/** Decodes exactly one CBOR item; trailing bytes, truncation and unsupported items throw CborDecodeError. */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw new CborDecodeError('empty CBOR input');
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new CborDecodeError(`invalid CBOR: ${(err as Error).message}`);
  }
}

/** An integer CBOR map decoded with `decodeCbor`; helpers below read typed fields from it. */
export type CborMap = Map<unknown, unknown>;

export function asMap(v: unknown, what: string): CborMap {
  if (!(v instanceof Map)) throw new CborDecodeError(`${what} must be a CBOR map`);
  return v;
}

/** Reads an unsigned integer (number or bigint on the wire) that fits a JS safe integer. */
export function toUint(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

export function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

export function toBytes(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}
