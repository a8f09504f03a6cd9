/**
 * The gateway's signing key for delivery manifests: `<data dir>/keys/gateway.pem` (PKCS#8, mode 0600),
 * generated on first start. Devices are provisioned with its public point (`furrow keys gateway`).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { FurrowError } from '../errors.ts';
import { generateEs256KeyPair, keyId, privateKeyFromPem, publicKeyPoint } from './cose.ts';

export interface GatewayKey {
  path: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  kid: Buffer;
  /** True when this call generated the key. */
  created: boolean;
  /** Set when the file is readable by group or others (the caller logs it). */
  looseMode?: string;
}

export function gatewayKeyPath(dataDir: string): string {
  return join(dataDir, 'keys', 'gateway.pem');
}

export function loadOrCreateGatewayKey(dataDir: string): GatewayKey {
  const path = gatewayKeyPath(dataDir);
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
    const { privateKey } = generateEs256KeyPair();
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    let fd: number;
    try {
      // 'wx': never overwrite a key another process created a moment ago.
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FurrowError('GATEWAY_KEY_WRITE', `cannot create gateway key ${path}: ${(err as Error).message}`, {
          hint: 'check that the data directory is writable by the furrow user',
          cause: err,
        });
      }
      fd = -1;
    }
    if (fd >= 0) {
      try {
        writeSync(fd, pem);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      created = true;
    }
  }
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new FurrowError('GATEWAY_KEY_READ', `cannot read gateway key ${path}: ${(err as Error).message}`, { cause: err });
  }
  const privateKey = privateKeyFromPem(pem, path);
  const publicKey = createPublicKey(privateKey);
  const mode = statSync(path).mode & 0o777;
  const key: GatewayKey = { path, privateKey, publicKey, kid: keyId(publicKey), created };
  if (mode & 0o077) key.looseMode = mode.toString(8);
  return key;
}

/** What an operator copies into device provisioning. */
export function describeGatewayKey(k: GatewayKey): { kid: string; point: string; pem: string } {
  return {
    kid: k.kid.toString('hex'),
    point: publicKeyPoint(k.publicKey).toString('hex'),
    pem: k.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}
