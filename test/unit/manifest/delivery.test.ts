import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../../src/manifest/cbor.ts';
import { generateEs256KeyPair, parseSign1, sign1 } from '../../../src/manifest/cose.ts';
import { signManifest, verifyManifest, type DeliveryManifest } from '../../../src/manifest/delivery.ts';
import { loadOrCreateGatewayKey } from '../../../src/manifest/gateway-key.ts';
import { readPatchDigests } from '../../../src/manifest/patch-header.ts';
import { syntheticPatch } from '../../integration/coap-harness.ts';

const d32 = (s: string) => createHash('sha256').update(s).digest();

const manifest: DeliveryManifest = {
  sequence: 5_000_000_000,
  product: 'soil-probe',
  deviceId: 'probe-1',
  baseSha256: d32('base'),
  patchSha256: d32('patch'),
  patchSize: 65_292,
  patchFormat: 1,
  chunkTableDigest: d32('table'),
  resultSha256: d32('result'),
  resultSize: 1_284_976,
  secureVersion: 3,
  releaseStatement: undefined,
  version: '0.14.4',
};

describe('delivery manifest (MANIFEST.md)', () => {
  const { privateKey, publicKey } = generateEs256KeyPair();

  it('round-trips every field through sign and verify, with integer keys on the wire', () => {
    const bytes = signManifest(manifest, privateKey);
    expect(verifyManifest(bytes, publicKey)).toEqual(manifest);
    const payload = parseSign1(bytes).payload;
    // map(13) {1: 1, 2: 5000000000 as a 64-bit uint (not a float), ...}
    expect(payload.subarray(0, 4).toString('hex')).toBe('ad010102');
    expect(payload[4]).toBe(0x1b);
  });

  it('omits the base digest for a full image and the statement when unsigned', () => {
    const full = verifyManifest(signManifest({ ...manifest, baseSha256: undefined }, privateKey), publicKey);
    expect(full.baseSha256).toBeUndefined();
    expect(full.releaseStatement).toBeUndefined();
  });

  it('refuses a manifest signed by another key, and one with a mistyped field', () => {
    const other = generateEs256KeyPair();
    expect(() => verifyManifest(signManifest(manifest, other.privateKey), publicKey)).toThrow(/not trusted/);
    const bad = sign1(encodeCbor(new Map<number, unknown>([[1, 1], [2, 1], [3, 'p'], [4, 'd'], [6, Buffer.alloc(31)]])), privateKey);
    expect(() => verifyManifest(bad, publicKey)).toThrow(/patch SHA-256 must be a 32-byte/);
  });
});

describe('patch header digests (src/delta/FORMAT.md §3)', () => {
  const patch = syntheticPatch({ size: 5000, baseSha256: d32('b'), baseSize: 100, resultSha256: d32('r'), resultSize: 200 });

  it('reads base/result digests and recomputes the chunk table digest', () => {
    const h = readPatchDigests(patch);
    expect(h.baseSha256).toEqual(d32('b'));
    expect(h.resultSha256).toEqual(d32('r'));
    expect(h.resultSize).toBe(200);
    expect(h.tableDigest).toEqual(patch.subarray(128, 160));
  });

  it('refuses a patch whose chunk table was altered', () => {
    const bad = Buffer.from(patch);
    bad[190] = bad[190]! ^ 1;
    expect(() => readPatchDigests(bad, 'patch X')).toThrow(/patch X: stored chunk table digest does not match/);
    expect(() => readPatchDigests(Buffer.alloc(200))).toThrow(/magic/);
  });
});

describe('gateway key', () => {
  it('is generated once with mode 0600 and reused afterwards', () => {
    const dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    try {
      const a = loadOrCreateGatewayKey(dir);
      expect(a.created).toBe(true);
      expect(statSync(a.path).mode & 0o777).toBe(0o600);
      const pem = readFileSync(a.path, 'utf8');
      const b = loadOrCreateGatewayKey(dir);
      expect(b.created).toBe(false);
      expect(b.kid).toEqual(a.kid);
      expect(readFileSync(b.path, 'utf8')).toBe(pem);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
