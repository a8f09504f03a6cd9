import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { decodeCbor, encodeCbor, Tag } from '../../../src/manifest/cbor.ts';
import { CoseError, generateEs256KeyPair, keyId, parseSign1, publicKeyFromPoint, publicKeyPoint, sign1, verify1 } from '../../../src/manifest/cose.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('COSE_Sign1 ES256', () => {
  const { privateKey, publicKey } = generateEs256KeyPair();
  const payload = encodeCbor(new Map<number, unknown>([[1, 'soil-probe'], [2, '1.4.2']]));

  it('signs a tagged COSE_Sign1 with the fixed protected header and an 8-byte kid', () => {
    const msg = sign1(payload, privateKey);
    expect(msg.subarray(0, 6).toString('hex')).toBe('d28443a10126');
    const parsed = parseSign1(msg);
    expect(parsed.kid).toEqual(keyId(publicKey));
    expect(parsed.kid!.length).toBe(8);
    expect(parsed.signature.length).toBe(64);
    expect(verify1(msg, publicKey).payload).toEqual(payload);
  });

  it('refuses a message whose payload was changed after signing', () => {
    const parsed = parseSign1(sign1(payload, privateKey));
    const tampered = Buffer.from(parsed.payload);
    tampered[tampered.length - 1]! ^= 1;
    const forged = encodeCbor(new Tag([parsed.protectedBytes, parsed.unprotected, tampered, parsed.signature], 18));
    expect(() => verify1(forged, publicKey)).toThrow(/does not verify/);
  });

  it('refuses a signature by a key that is not trusted, naming the kid', () => {
    const other = generateEs256KeyPair();
    expect(() => verify1(sign1(payload, other.privateKey), publicKey)).toThrow(new RegExp(keyId(other.publicKey).toString('hex')));
    expect(() => verify1(sign1(payload, other.privateKey, { kid: false }), publicKey)).toThrow(CoseError);
  });

  it('refuses garbage, wrong tags and other algorithms with a CoseError', () => {
    expect(() => verify1(Buffer.from('ff00', 'hex'), publicKey)).toThrow(CoseError);
    expect(() => verify1(encodeCbor(new Tag([1, 2, 3, 4], 98)), publicKey)).toThrow(/tag 98/);
    const parsed = parseSign1(sign1(payload, privateKey));
    const es384 = encodeCbor(new Tag([Buffer.from([0xa1, 0x01, 0x38, 0x22]), new Map(), parsed.payload, parsed.signature], 18));
    expect(() => verify1(es384, publicKey)).toThrow(/not ES256/);
  });

  it('round-trips the uncompressed public point the device stores', () => {
    const point = publicKeyPoint(publicKey);
    expect(point.length).toBe(65);
    expect(keyId(publicKeyFromPoint(point))).toEqual(keyId(publicKey));
  });

  it('produces signatures OpenSSL verifies over the same Sig_structure', () => {
    const { dir, cleanup } = tempDir();
    onTestFinished(cleanup);
    const msg = parseSign1(sign1(payload, privateKey));
    const tbs = encodeCbor(['Signature1', msg.protectedBytes, Buffer.alloc(0), msg.payload]);
    // OpenSSL wants DER: rebuild SEQUENCE { INTEGER r, INTEGER s } from raw r||s.
    const int = (b: Buffer) => {
      let v = b;
      while (v.length > 1 && v[0] === 0) v = v.subarray(1);
      if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
      return Buffer.concat([Buffer.from([0x02, v.length]), v]);
    };
    const body = Buffer.concat([int(msg.signature.subarray(0, 32)), int(msg.signature.subarray(32))]);
    writeFileSync(join(dir, 'sig.der'), Buffer.concat([Buffer.from([0x30, body.length]), body]));
    writeFileSync(join(dir, 'tbs'), tbs);
    writeFileSync(join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig.der'), join(dir, 'tbs')]).toString();
    expect(out).toMatch(/Verified OK/);
  });

  it('decodes the signed payload back to integer-keyed maps', () => {
    const m = decodeCbor(verify1(sign1(payload, privateKey), publicKey).payload) as Map<number, unknown>;
    expect(m.get(1)).toBe('soil-probe');
  });
});
