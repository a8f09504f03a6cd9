/**
 * The gateway's TLS certificate for the HTTPS server: `<data dir>/http/gateway-cert.pem` and
 * `gateway-key.pem` (ECDSA P-256, PKCS#8, mode 0600), generated on first start. It is self-signed
 * with CA:TRUE, so the same PEM is what a device pins: Arduino `client.setCACert(pem)`, ESP-IDF
 * `esp_http_client_config_t.cert_pem` (HTTP.md). Or the operator's own cert+key (http.tls).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FurrowError, InputError } from '../errors.ts';
import { bits, bool, explicit, implicit, int, octets, oid, seq, set, time, uintBytes, utf8 } from './der.ts';

export interface GatewayCert {
  certPem: string;
  keyPem: string;
  /** Where the certificate came from (generated file or operator file). */
  certPath: string;
  /** True when this call generated the pair. */
  created: boolean;
  /** SHA-256 of the DER certificate, colon-free hex (what `openssl x509 -fingerprint -sha256` shows). */
  fingerprint: string;
  /** DNS names and addresses the certificate is valid for. */
  names: string[];
  /** Set when the key file is readable by group or others (the caller logs it). */
  looseMode?: string;
}

export function gatewayCertPaths(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, 'http');
  return { dir, cert: join(dir, 'gateway-cert.pem'), key: join(dir, 'gateway-key.pem') };
}

/** Names a fresh certificate carries: loopback, this host, its mDNS name, and the configured extras. */
export function defaultNames(extra: readonly string[]): string[] {
  const host = hostname();
  return [...new Set(['localhost', '127.0.0.1', '::1', host, `${host}.local`, ...extra].filter((n) => n.length > 0))];
}

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
};

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" then 8 groups of 16 bits.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => { const b = Buffer.alloc(2); b.writeUInt16BE(parseInt(g, 16)); return b; }));
}

const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** A self-signed X.509 v3 certificate (RFC 5280) for `names`, valid from yesterday with no expiry. */
export function selfSignedCert(privateKey: KeyObject, names: readonly string[], now = new Date()): Buffer {
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents (the 65-byte point).
  const keyId = createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
  const name = seq(set(seq(oid(OID.organization), utf8('furrow'))), set(seq(oid(OID.commonName), utf8(`furrow gateway ${names.find((n) => !isIP(n) && n !== 'localhost') ?? 'localhost'}`))));
  const san = seq(...names.map((n) => (isIP(n) ? implicit(7, ipBytes(n)) : implicit(2, Buffer.from(n, 'ascii')))));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const alg = seq(oid(OID.ecdsaSha256));
  const tbs = seq(
    explicit(0, int(2)),
    uintBytes(serial),
    alg,
    name,
    seq(time(new Date(now.getTime() - 86_400_000)), time(new Date(Date.UTC(9999, 11, 31, 23, 59, 59)))),
    name,
    spki,
    explicit(
      3,
      seq(
        ext(OID.basicConstraints, true, seq(bool(true))),
        // digitalSignature (bit 0) for the TLS handshake, keyCertSign (bit 5) because it is its own CA.
        ext(OID.keyUsage, true, bits(Buffer.from([0x84]), 2)),
        ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
        ext(OID.subjectAltName, false, san),
        ext(OID.subjectKeyId, false, octets(keyId)),
        ext(OID.authorityKeyId, false, seq(implicit(0, keyId))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  return seq(tbs, alg, bits(signature));
}

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function writeNew(path: string, text: string, mode: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new FurrowError('HTTP_CERT_WRITE', `cannot create ${path}: ${(err as Error).message}`, { hint: 'check that the data directory is writable by the furrow user', cause: err });
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function describe(certPem: string, keyPem: string, certPath: string, created: boolean, keyPath?: string): GatewayCert {
  let x: X509Certificate;
  try {
    x = new X509Certificate(certPem);
  } catch (err) {
    throw new InputError('HTTP_CERT_BAD', `${certPath} is not a PEM X.509 certificate: ${(err as Error).message}`, { hint: 'point http.tls.cert at a PEM certificate file', cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new InputError('HTTP_CERT_KEY_BAD', `${keyPath ?? certPath}: the private key cannot be read: ${(err as Error).message}`, { hint: 'http.tls.key must be an unencrypted PEM private key', cause: err });
  }
  if (!x.checkPrivateKey(key)) {
    throw new InputError('HTTP_CERT_KEY_MISMATCH', `the private key ${keyPath ?? ''} does not belong to certificate ${certPath}`, { hint: 'use the key the certificate was issued for' });
  }
  const names = (x.subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, '')).filter(Boolean);
  const out: GatewayCert = { certPem, keyPem, certPath, created, fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(), names };
  if (keyPath) {
    const mode = statSync(keyPath).mode & 0o777;
    if (mode & 0o077) out.looseMode = mode.toString(8);
  }
  return out;
}

/** Loads the generated pair, creating it on first use (never overwriting one another process just made). */
export function loadOrCreateGatewayCert(dataDir: string, extraNames: readonly string[] = []): GatewayCert {
  const p = gatewayCertPaths(dataDir);
  let created = false;
  if (!existsSync(p.key) || !existsSync(p.cert)) {
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    if (!existsSync(p.key)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      writeNew(p.key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    }
    const key = createPrivateKey(readFileSync(p.key));
    created = writeNew(p.cert, pem(selfSignedCert(key, defaultNames(extraNames))), 0o644);
  }
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(p.cert, 'utf8');
    keyPem = readFileSync(p.key, 'utf8');
  } catch (err) {
    throw new FurrowError('HTTP_CERT_READ', `cannot read the gateway TLS certificate under ${p.dir}: ${(err as Error).message}`, { cause: err });
  }
  return describe(certPem, keyPem, p.cert, created, p.key);
}

/** The operator's certificate chain and key (http.tls.cert/key), checked to belong together. */
export function loadOperatorCert(certFile: string, keyFile: string): GatewayCert {
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new InputError('HTTP_CERT_READ', `cannot read http.tls.${what} ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: `fix the path in http.tls.${what} (relative paths are relative to the config file)`, cause: err });
    }
  };
  return describe(read(certFile, 'cert'), read(keyFile, 'key'), certFile, false, keyFile);
}
