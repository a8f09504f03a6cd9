import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gatewayCertPaths, loadOperatorCert, loadOrCreateGatewayCert } from '../../../src/http/cert.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('the gateway TLS certificate', () => {
  const tmp = tempDir();
  afterEach(() => tmp.cleanup());

  it('is generated once as a self-signed ECDSA P-256 CA that openssl verifies, for loopback and the configured names', () => {
    const a = loadOrCreateGatewayCert(tmp.dir, ['gw.farm.lan', '10.0.0.7', 'fd00::7']);
    expect(a.created).toBe(true);
    const x = new X509Certificate(a.certPem);
    expect(x.ca).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
    expect(x.checkHost('gw.farm.lan')).toBe('gw.farm.lan');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(x.checkIP('fd00::7')).toBe('fd00::7');
    expect(x.checkHost('other.example')).toBeUndefined();
    const pem = join(tmp.dir, 'ca.pem');
    writeFileSync(pem, a.certPem);
    expect(execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', pem, pem]).toString()).toMatch(/OK/);
    const b = loadOrCreateGatewayCert(tmp.dir, ['gw.farm.lan']);
    expect(b.created).toBe(false);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.fingerprint).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase());
  });

  it('flags a key file readable by others', () => {
    loadOrCreateGatewayCert(tmp.dir);
    chmodSync(gatewayCertPaths(tmp.dir).key, 0o644);
    expect(loadOrCreateGatewayCert(tmp.dir).looseMode).toBe('644');
  });

  it('refuses an operator certificate whose key is another one, and a file that is not a certificate', () => {
    const a = loadOrCreateGatewayCert(join(tmp.dir, 'a'));
    const b = loadOrCreateGatewayCert(join(tmp.dir, 'b'));
    const cert = join(tmp.dir, 'cert.pem');
    const key = join(tmp.dir, 'key.pem');
    writeFileSync(cert, a.certPem);
    writeFileSync(key, b.keyPem);
    expect(() => loadOperatorCert(cert, key)).toThrow(/does not belong to certificate/);
    writeFileSync(key, a.keyPem);
    expect(loadOperatorCert(cert, key).fingerprint).toBe(a.fingerprint);
    writeFileSync(cert, 'hello');
    expect(() => loadOperatorCert(cert, key)).toThrow(/is not a PEM X.509 certificate/);
    expect(() => loadOperatorCert(join(tmp.dir, 'missing.pem'), key)).toThrow(/cannot read http.tls.cert .*ENOENT/);
  });
});
