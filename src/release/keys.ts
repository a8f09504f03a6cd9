import { type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../errors.ts';
import { generateEs256KeyPair, keyId, privateKeyFromPem, publicKeyFromPem } from '../manifest/cose.ts';

/** ES256 (ECDSA P-256) keys as PEM files, for the vendor's offline release key. */

export interface GeneratedKey {
  privateFile: string;
  publicFile: string;
  kid: string;
}

/** Writes `<base>.pem` (private, mode 0600) and `<base>.pub.pem`; refuses to overwrite a key. */
export function generateKeyFiles(base: string): GeneratedKey {
  const privateFile = `${base}.pem`;
  const publicFile = `${base}.pub.pem`;
  for (const f of [privateFile, publicFile]) {
    if (existsSync(f)) {
      throw new InputError('KEY_EXISTS', `${f} already exists; refusing to overwrite a key`, { hint: 'choose another name or move the old key away first' });
    }
  }
  const { privateKey, publicKey } = generateEs256KeyPair();
  // `keys generate keys/vendor-release` makes keys/ (private: only its owner may list it).
  mkdirSync(dirname(privateFile), { recursive: true, mode: 0o700 });
  writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }), { flag: 'wx' });
  return { privateFile, publicFile, kid: keyId(publicKey).toString('hex') };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError('KEY_UNREADABLE', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function loadPrivateKey(file: string): KeyObject {
  return privateKeyFromPem(readPem(file, 'private key'), file);
}

/** Accepts a public key PEM, or a private key PEM (its public half is used). */
export function loadPublicKey(file: string): KeyObject {
  return publicKeyFromPem(readPem(file, 'public key'), file);
}
