import type { KeyObject } from 'node:crypto';
import { dirname, relative } from 'node:path';
import { FurrowError, InputError } from '../errors.ts';
import { decodeCbor, encodeCbor, toBytes, uint } from '../manifest/cbor.ts';
import { sign1, verify1 } from '../manifest/cose.ts';
import { loadPublicKey } from './keys.ts';

/**
 * The release statement (src/manifest/MANIFEST.md): what the vendor signs offline with the release key,
 * and what a device checks before it boots an image. COSE_Sign1 over a CBOR map with integer keys.
 */
export interface ReleaseStatement {
  product: string;
  version: string;
  secureVersion: number;
  sha256: string;
  size: number;
}

export function encodeStatement(s: ReleaseStatement): Buffer {
  return encodeCbor(
    new Map<number, unknown>([
      [1, s.product],
      [2, s.version],
      [3, uint(s.secureVersion)],
      [4, Buffer.from(s.sha256, 'hex')],
      [5, uint(s.size)],
    ]),
  );
}

export function signStatement(s: ReleaseStatement, key: KeyObject): Buffer {
  return sign1(encodeStatement(s), key);
}

/**
 * Loads one releases.trustedKeys file. The config loader made relative entries absolute from the config
 * file's folder; a missing file says so, because operators expect the working directory.
 */
function loadTrustedKey(file: string, configFile: string | undefined): KeyObject {
  try {
    return loadPublicKey(file);
  } catch (err) {
    if (!(err instanceof FurrowError) || err.code !== 'KEY_UNREADABLE') throw err;
    const how = configFile ? ` (the entry ${relative(dirname(configFile), file)} resolved from ${dirname(configFile)}, the folder of ${configFile})` : '';
    throw new InputError('RELEASE_TRUSTED_KEY_UNREADABLE', `releases.trustedKeys: ${err.message}${how}`, {
      hint: 'relative paths in releases.trustedKeys are resolved from the config file\'s folder, not the working directory; list the .pub.pem from `furrow keys generate` relative to that folder, or as an absolute path',
    });
  }
}

/** Verifies a statement against the configured trusted key files and decodes it. */
export function verifyReleaseStatement(
  bytes: Buffer,
  trustedKeyFiles: string[],
  where: string,
  configFile?: string,
): ReleaseStatement & { bytes: Buffer; kid: string } {
  if (trustedKeyFiles.length === 0) {
    throw new InputError('RELEASE_NO_TRUSTED_KEYS', `cannot check ${where}: releases.trustedKeys${configFile ? ` in ${configFile}` : ''} lists no release public keys`, {
      hint: 'add the vendor public key file (from `furrow keys generate`) under releases.trustedKeys; a relative path is resolved from the config file\'s folder',
    });
  }
  const keys = trustedKeyFiles.map((f) => loadTrustedKey(f, configFile));
  let verified: { payload: Buffer; kid: Buffer };
  try {
    verified = verify1(bytes, keys);
  } catch (err) {
    throw new InputError('RELEASE_BAD_SIGNATURE', `${where}: ${(err as Error).message}`, {
      hint: 'sign the release with a key listed in releases.trustedKeys (`furrow release sign`)',
    });
  }
  const s = decodeStatement(verified.payload, where);
  return { ...s, bytes, kid: verified.kid.toString('hex') };
}

export function decodeStatement(payload: Buffer, where: string): ReleaseStatement {
  let m: unknown;
  try {
    m = decodeCbor(payload);
  } catch (err) {
    throw new InputError('RELEASE_BAD_STATEMENT', `${where}: statement payload is not CBOR: ${(err as Error).message}`);
  }
  if (!(m instanceof Map)) throw new InputError('RELEASE_BAD_STATEMENT', `${where}: statement payload is not a CBOR map`);
  const product = m.get(1);
  const version = m.get(2);
  const secureVersion = m.get(3);
  const sha = toBytes(m.get(4));
  const size = m.get(5);
  const bad: string[] = [];
  if (typeof product !== 'string') bad.push('1 (product) must be a text string');
  if (typeof version !== 'string') bad.push('2 (version) must be a text string');
  if (typeof secureVersion !== 'number' || !Number.isInteger(secureVersion) || secureVersion < 0) bad.push('3 (secure version) must be an unsigned integer');
  if (!sha || sha.length !== 32) bad.push('4 (image sha256) must be 32 bytes');
  if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) bad.push('5 (image size) must be a positive integer');
  if (bad.length > 0) throw new InputError('RELEASE_BAD_STATEMENT', `${where}: statement field ${bad.join('; field ')}`);
  return { product: product as string, version: version as string, secureVersion: secureVersion as number, sha256: sha!.toString('hex'), size: size as number };
}
