/**
 * COSE_Sign1 with ES256 (RFC 9052 §4.2, RFC 9053 §2.1) on node:crypto: what the gateway signs
 * manifests with, what release statements are checked with, and what the tests verify with the same
 * rules the device applies (MANIFEST.md). Signatures are raw r||s (RFC 9053 §2.1), not DER.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { FurrowError } from '../errors.ts';
import { CborDecodeError, decodeCbor, encodeCbor, Tag, toBytes } from './cbor.ts';

export const COSE_SIGN1_TAG = 18;
export const COSE_ALG_ES256 = -7;
const HDR_ALG = 1;
const HDR_KID = 4;
/** `{1: -7}`; MANIFEST.md fixes these exact bytes so the device can compare instead of parse. */
export const PROTECTED_ES256 = Buffer.from([0xa1, 0x01, 0x26]);

export class CoseError extends FurrowError {
  constructor(message: string, hint?: string) {
    super('COSE_INVALID', message, hint === undefined ? {} : { hint });
  }
}

export interface Sign1 {
  protectedBytes: Buffer;
  unprotected: Map<unknown, unknown>;
  payload: Buffer;
  signature: Buffer;
  /** From the unprotected header (4), if present. */
  kid: Buffer | undefined;
}

export function generateEs256KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function assertP256(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CoseError(`${where}: not an ECDSA P-256 key (ES256 needs P-256; got ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''})`.trim(),
      'create one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem');
  }
}

/** Parses a PEM private key (PKCS#8 or SEC1) and checks it is P-256. */
export function privateKeyFromPem(pem: string | Buffer, where = 'private key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new CoseError(`${where}: cannot parse PEM private key: ${(err as Error).message}`);
  }
  assertP256(key, where);
  return key;
}

/** Parses a PEM public key (SPKI) or derives it from a private key PEM; checks it is P-256. */
export function publicKeyFromPem(pem: string | Buffer, where = 'public key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new CoseError(`${where}: cannot parse PEM public key: ${(err as Error).message}`);
  }
  assertP256(key, where);
  return key;
}

/** The 65-byte uncompressed point 0x04 || X || Y: how the device stores a trusted key. */
export function publicKeyPoint(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  assertP256(pub, 'key');
  const jwk = pub.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  return Buffer.concat([Buffer.from([0x04]), x, y]);
}

/** Builds a KeyObject from a 65-byte uncompressed P-256 point. */
export function publicKeyFromPoint(point: Uint8Array): KeyObject {
  if (point.length !== 65 || point[0] !== 0x04) throw new CoseError(`public key point must be 65 bytes starting 0x04, got ${point.length} bytes`);
  const b = Buffer.from(point);
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b.subarray(1, 33).toString('base64url'), y: b.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
}

/** MANIFEST.md: kid = first 8 bytes of SHA-256 over the uncompressed point. */
export function keyId(key: KeyObject): Buffer {
  return createHash('sha256').update(publicKeyPoint(key)).digest().subarray(0, 8);
}

/** RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload]. */
function sigStructure(protectedBytes: Buffer, payload: Buffer, externalAad: Buffer): Buffer {
  return encodeCbor(['Signature1', protectedBytes, externalAad, payload]);
}

/** Signs `payload` (already-encoded CBOR bytes) into a tagged COSE_Sign1. `kid` defaults to on. */
export function sign1(payload: Uint8Array, privateKey: KeyObject, opts: { kid?: boolean } = {}): Buffer {
  assertP256(privateKey, 'signing key');
  const body = Buffer.from(payload);
  const tbs = sigStructure(PROTECTED_ES256, body, Buffer.alloc(0));
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const unprotected = opts.kid === false ? new Map() : new Map([[HDR_KID, keyId(privateKey)]]);
  return encodeCbor(new Tag([PROTECTED_ES256, unprotected, body, signature], COSE_SIGN1_TAG));
}

/** Splits a COSE_Sign1 (tagged 18, or untagged as some tools write it) without checking the signature. */
export function parseSign1(bytes: Uint8Array): Sign1 {
  let item: unknown;
  try {
    item = decodeCbor(bytes);
  } catch (err) {
    throw new CoseError(`not a COSE_Sign1: ${(err as CborDecodeError).message}`);
  }
  if (item instanceof Tag) {
    if (item.tag !== COSE_SIGN1_TAG) throw new CoseError(`not a COSE_Sign1: CBOR tag ${item.tag}, expected ${COSE_SIGN1_TAG}`);
    item = item.value;
  }
  if (!Array.isArray(item) || item.length !== 4) throw new CoseError('not a COSE_Sign1: expected an array of 4 items');
  const [p, u, payload, sig] = item as unknown[];
  const protectedBytes = toBytes(p);
  const payloadBytes = toBytes(payload);
  const signature = toBytes(sig);
  if (!protectedBytes || !payloadBytes || !signature || !(u instanceof Map)) {
    throw new CoseError('not a COSE_Sign1: protected, payload and signature must be byte strings, unprotected a map (detached payloads are not supported)');
  }
  const kid = toBytes(u.get(HDR_KID));
  return { protectedBytes, unprotected: u, payload: payloadBytes, signature, kid };
}

function protectedAlg(protectedBytes: Buffer): unknown {
  if (protectedBytes.length === 0) return undefined;
  try {
    const m = decodeCbor(protectedBytes);
    return m instanceof Map ? m.get(HDR_ALG) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a COSE_Sign1 against trusted keys. When the message names a kid, only the key with that kid
 * is tried; otherwise each key. Returns the payload bytes and which key signed.
 */
export function verify1(bytes: Uint8Array, trusted: KeyObject | KeyObject[]): { payload: Buffer; key: KeyObject; kid: Buffer } {
  const msg = parseSign1(bytes);
  const alg = protectedAlg(msg.protectedBytes);
  if (alg !== COSE_ALG_ES256) throw new CoseError(`COSE_Sign1 algorithm ${String(alg)} is not ES256 (-7)`);
  if (msg.signature.length !== 64) throw new CoseError(`ES256 signature must be 64 bytes (raw r||s), got ${msg.signature.length}`);
  const keys = (Array.isArray(trusted) ? trusted : [trusted]).map((k) => (k.type === 'private' ? createPublicKey(k) : k));
  const candidates = msg.kid ? keys.filter((k) => keyId(k).equals(msg.kid!)) : keys;
  if (candidates.length === 0) {
    throw new CoseError(`COSE_Sign1 was signed by key ${msg.kid!.toString('hex')}, which is not trusted`, 'add the signer\'s public key to the trusted keys');
  }
  const tbs = sigStructure(msg.protectedBytes, msg.payload, Buffer.alloc(0));
  for (const key of candidates) {
    if (verify('sha256', tbs, { key, dsaEncoding: 'ieee-p1363' }, msg.signature)) {
      return { payload: msg.payload, key, kid: keyId(key) };
    }
  }
  throw new CoseError('COSE_Sign1 signature does not verify with any trusted key');
}
