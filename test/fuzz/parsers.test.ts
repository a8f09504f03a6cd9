/**
 * Fuzzing every in-process parser of outside input: each must return a value or throw its typed error
 * (never a TypeError/RangeError, never hang). Inputs are valid samples mutated byte-wise plus random
 * bytes; the tally of inputs tried is printed at the end.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/index.ts';
import { PatchError } from '../../src/delta/errors.ts';
import { applyPatch, encodePatch, StreamingApplier } from '../../src/delta/index.ts';
import { CborDecodeError, decodeCbor, encodeCbor } from '../../src/manifest/cbor.ts';
import { CoseError, generateEs256KeyPair, parseSign1, verify1 } from '../../src/manifest/cose.ts';
import { signManifest, verifyManifest, type DeliveryManifest } from '../../src/manifest/delivery.ts';
import { readPatchDigests } from '../../src/manifest/patch-header.ts';
import { createHash } from 'node:crypto';
import { FurrowError, InputError } from '../../src/errors.ts';
import { EspImageError, parseEspImage } from '../../src/release/esp-image.ts';
import { decodeStatement, signStatement, verifyReleaseStatement } from '../../src/release/statement.ts';
import { CommandProcessor, rolloutEngineMissing } from '../../src/telemetry/commands.ts';
import { readCorpus } from '../helpers/corpus.ts';
import { REPO_ROOT } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { checkTyped, checkTypedAsync, fcParams, inputArb, printTallies, RUNS, tally } from './harness.ts';

afterAll(() => printTallies('parser fuzzing'));

describe('fuzzing the YAML config parser', () => {
  const samples = [readFileSync(join(REPO_ROOT, 'config/furrow.yaml')), readFileSync(join(REPO_ROOT, 'config/examples/production.yaml'))];
  const hostile = [
    // Billion laughs: alias expansion must be refused, not exhaust memory.
    'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
    'gateway: !!js/function "function(){}"\n',
    'gateway: &g\n  id: *g\n',
    '<<: *undefined\n',
    '%YAML 9.9\n---\ngateway: {}\n',
    'coap:\n  port: 1e400\n',
    'coap: { port: !!binary AAAA }\n',
    '\uFEFF\u0000gateway:\n',
    '? [a, b]\n: c\n',
    '__proto__: { polluted: true }\n',
    'constructor: { prototype: { polluted: true } }\n',
  ];

  it('answers every mutated or random config with a Config or a ConfigError', () => {
    const t = tally('config YAML (parseConfigText)');
    for (const text of hostile) {
      checkTyped(t, [ConfigError, InputError], text, () => parseConfigText(text, 'fuzz.yaml'));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
    const text = fc.oneof(
      inputArb(samples).map((b) => b.toString('utf8')),
      fc.string({ maxLength: 300, unit: 'binary' }),
    );
    fc.assert(
      fc.property(text, (s) => {
        checkTyped(t, [ConfigError, InputError], s, () => parseConfigText(s, 'fuzz.yaml'));
      }),
      fcParams(),
    );
    expect(t.crashes).toBe(0);
  });
});

describe('fuzzing the ESP image parser', () => {
  const images = [readCorpus('wled-esp32/0.14.3.bin'), readCorpus('nerdminer-tdisplay-s3/1.6.0.bin')];

  it('answers every mutated image header, segment table and truncation with an image or an EspImageError', () => {
    const t = tally('ESP image (parseEspImage)');
    // Mutations in the first 64 KB reach the header, segment headers and esp_app_desc_t.
    fc.assert(
      fc.property(inputArb(images, { window: 65536, maxRandom: 4096 }), (b) => {
        checkTyped(t, [EspImageError], b, () => parseEspImage(b, 'fuzz.bin'));
      }),
      fcParams(Math.max(50, Math.floor(RUNS / 2))),
    );
    expect(t.crashes).toBe(0);
  });
});

describe('fuzzing CBOR, COSE_Sign1, release statements and delivery manifests', () => {
  const release = generateEs256KeyPair();
  const gateway = generateEs256KeyPair();
  let tmp: ReturnType<typeof tempDir>;
  let pubFile: string;
  const statement = signStatement({ product: 'wled', version: '0.14.4', secureVersion: 3, sha256: 'ab'.repeat(32), size: 1284976 }, release.privateKey);
  const manifest: DeliveryManifest = {
    sequence: 7,
    product: 'wled',
    deviceId: 'dev-1',
    baseSha256: Buffer.alloc(32, 1),
    patchSha256: Buffer.alloc(32, 2),
    patchSize: 65000,
    patchFormat: 1,
    chunkTableDigest: Buffer.alloc(32, 3),
    resultSha256: Buffer.alloc(32, 4),
    resultSize: 1284976,
    secureVersion: 3,
    releaseStatement: statement,
    version: '0.14.4',
  };
  const signedManifest = signManifest(manifest, gateway.privateKey);
  const cborSamples = [
    encodeCbor(new Map<number, unknown>([[1, 'wled'], [2, Buffer.alloc(32)], [3, 0], [8, [Buffer.alloc(32), 4096]]])),
    encodeCbor(['dev-1', 12, Buffer.from([0xa1, 0x01, 0x02]), Buffer.alloc(16)]),
    Buffer.from('d8184a' + '00'.repeat(10), 'hex'),
    Buffer.from('fb7ff8000000000000', 'hex'),
    Buffer.from('c249010000000000000000', 'hex'),
  ];

  beforeAll(() => {
    tmp = tempDir();
    pubFile = join(tmp.dir, 'release.pub.pem');
    writeFileSync(pubFile, release.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  });
  afterAll(() => tmp.cleanup());

  it('decodes every mutated or random CBOR item or throws CborDecodeError', () => {
    const t = tally('CBOR (decodeCbor)');
    const hostile = [
      Buffer.from('9bffffffffffffffff', 'hex'), // array of 2^64-1 items
      Buffer.from('bbffffffffffffffff', 'hex'), // map of 2^64-1 pairs
      Buffer.from('5bffffffffffffffff', 'hex'), // byte string of 2^64-1 bytes
      Buffer.from('9f'.repeat(5000), 'hex'), // 5000 nested indefinite arrays
      Buffer.from('81'.repeat(100000) + '00', 'hex'), // 100000 nested arrays
      Buffer.from('d9d9f7'.repeat(1000) + '00', 'hex'),
      Buffer.from('c11bffffffffffffffff', 'hex'),
      Buffer.from('a2000000', 'hex'),
    ];
    for (const h of hostile) checkTyped(t, [CborDecodeError], h, () => decodeCbor(h));
    fc.assert(fc.property(inputArb([...cborSamples, statement, signedManifest]), (b) => void checkTyped(t, [CborDecodeError], b, () => decodeCbor(b))), fcParams());
    expect(t.crashes).toBe(0);
  });

  it('verifies every mutated COSE_Sign1 or throws CoseError, and never accepts a changed message', () => {
    const t = tally('COSE_Sign1 (parseSign1 + verify1)');
    let forged = 0;
    fc.assert(
      fc.property(inputArb([statement, signedManifest]), (b) => {
        checkTyped(t, [CoseError], b, () => parseSign1(b));
        const ok = checkTyped(t, [CoseError], b, () => verify1(b, [release.publicKey, gateway.publicKey]));
        // A mutation may land in the unprotected header (kid) and still verify; the signed bytes never change.
        if (ok && !ok.payload.equals(parseSign1(statement).payload) && !ok.payload.equals(parseSign1(signedManifest).payload)) forged++;
      }),
      fcParams(),
    );
    expect(forged).toBe(0);
    expect(t.crashes).toBe(0);
  });

  it('checks every mutated release statement or throws InputError', () => {
    const t = tally('release statement (verify + decode)');
    const payload = parseSign1(statement).payload;
    fc.assert(
      fc.property(inputArb([statement]), inputArb([payload]), (signed, body) => {
        checkTyped(t, [InputError], signed, () => verifyReleaseStatement(signed, [pubFile], 'fuzz.sig'));
        checkTyped(t, [InputError], body, () => decodeStatement(body, 'fuzz payload'));
      }),
      fcParams(),
    );
    expect(t.crashes).toBe(0);
  });

  it('verifies every mutated delivery manifest or throws a FurrowError/CborDecodeError', () => {
    const t = tally('delivery manifest (verifyManifest)');
    fc.assert(fc.property(inputArb([signedManifest]), (b) => void checkTyped(t, [FurrowError, CborDecodeError], b, () => verifyManifest(b, gateway.publicKey))), fcParams());
    expect(t.crashes).toBe(0);
  });
});

describe('fuzzing the furrow patch applier', () => {
  let base: Buffer;
  let patch: Buffer;
  let full: Buffer;

  beforeAll(async () => {
    // A small firmware-like pair: the corpus image's first 48 KB, and a copy with edits and an insertion.
    base = readCorpus('wled-esp32/0.14.3.bin').subarray(0, 48 * 1024);
    const next = Buffer.from(base);
    for (let i = 1000; i < next.length; i += 3001) next[i] = (next[i]! + 17) & 0xff;
    const newer = Buffer.concat([next.subarray(0, 20000), Buffer.from('furrow fuzz insertion '.repeat(40)), next.subarray(20000)]);
    patch = await encodePatch(base, newer, { chunkSize: 16 * 1024 });
    full = await encodePatch(new Uint8Array(0), newer.subarray(0, 12000), { chunkSize: 4096 });
    expect(applyPatch(base, patch).equals(newer)).toBe(true);
  }, 60_000);

  it('applies every mutated patch or throws PatchError, and never returns a wrong image', () => {
    const t = tally('furrow patch (applyPatch)');
    const good = applyPatch(base, patch);
    let wrong = 0;
    fc.assert(
      fc.property(inputArb([patch, full], { window: 2048 }), (b) => {
        const out = checkTyped(t, [PatchError], b, () => applyPatch(base, b));
        if (out && !out.equals(good) && !out.equals(applyPatch(new Uint8Array(0), full))) wrong++;
      }),
      fcParams(),
    );
    expect(wrong).toBe(0);
    expect(t.crashes).toBe(0);
  });

  it('streams every mutated patch in random splits or throws PatchError', () => {
    const t = tally('furrow patch (StreamingApplier.push)');
    fc.assert(
      fc.property(inputArb([patch], { window: 4096 }), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }), (b, cuts) => {
        checkTyped(t, [PatchError], b, () => {
          const a = new StreamingApplier({ base });
          let at = 0;
          for (const c of cuts) {
            a.push(b.subarray(at, at + c));
            at += c;
          }
          a.push(b.subarray(at));
          a.end();
        });
      }),
      fcParams(Math.max(50, Math.floor(RUNS / 2))),
    );
    expect(t.crashes).toBe(0);
  });

  it('applies patches whose bodies and stream lengths were mutated and re-sealed (digests recomputed), or throws PatchError', () => {
    // Digests stop random corruption before the decoders; an attacker can recompute them. Re-sealing
    // makes every mutation reach the LZMA decoders and the control-stream interpreter.
    const t = tally('furrow patch, re-sealed (LZMA + control)');
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
    const count = patch.readUInt32LE(84);
    const start = 160 + 60 * count;
    const reseal = (p: Buffer): Buffer => {
      let off = start;
      for (let i = 0; i < count; i++) {
        const at = 160 + 60 * i;
        const len = p.readUInt32LE(at + 16) + p.readUInt32LE(at + 20) + p.readUInt32LE(at + 24);
        if (off + len > p.length) break;
        sha(p.subarray(off, off + len)).copy(p, at + 28);
        off += len;
      }
      createHash('sha256').update(p.subarray(0, 128)).update(p.subarray(160, start)).digest().copy(p, 128);
      return p;
    };
    const edit = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('body' as const), at: fc.integer({ min: 0, max: patch.length - start - 1 }), value: fc.integer({ min: 0, max: 255 }) }), weight: 6 },
      { arbitrary: fc.record({ kind: fc.constant('raw' as const), chunk: fc.integer({ min: 0, max: count - 1 }), field: fc.constantFrom(8, 12), delta: fc.integer({ min: -64, max: 64 }) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 8 }), (edits) => {
        const p = Buffer.from(patch);
        for (const e of edits) {
          if (e.kind === 'body') p[start + e.at] = e.value;
          else {
            const at = 160 + 60 * e.chunk + e.field;
            p.writeUInt32LE(Math.max(0, p.readUInt32LE(at) + e.delta), at);
          }
        }
        const sealed = reseal(p);
        checkTyped(t, [PatchError], sealed, () => applyPatch(base, sealed));
      }),
      fcParams(Math.max(50, Math.floor(RUNS / 2))),
    );
    expect(t.crashes).toBe(0);
  });

  it('reads every mutated patch header for the manifest or throws FurrowError', () => {
    const t = tally('patch header (readPatchDigests)');
    fc.assert(fc.property(inputArb([patch, full], { window: 400 }), (b) => void checkTyped(t, [FurrowError], b, () => readPatchDigests(b, 'fuzz'))), fcParams());
    expect(t.crashes).toBe(0);
  });
});

describe('fuzzing MQTT commands', () => {
  it('answers every mutated or random command with a reply and never reaches a handler with a bad one', async () => {
    const t = tally('MQTT command (CommandProcessor.handle)');
    const calls: string[] = [];
    const p = new CommandProcessor(
      () => ({
        pauseRollout: (id) => calls.push(`pause ${id}`),
        resumeRollout: (id) => calls.push(`resume ${id}`),
        haltRollout: (id) => calls.push(`halt ${id}`),
      }),
      () => ({ ok: true }),
    );
    const missing = new CommandProcessor(() => rolloutEngineMissing, () => ({}));
    const samples = [
      Buffer.from(JSON.stringify({ id: 'a1', command: 'rollout.pause', rollout: 'r1', reason: 'fuzz' })),
      Buffer.from(JSON.stringify({ id: 'a2', command: 'rollout.halt', rollout: 'r1', reason: 'x' })),
      Buffer.from(JSON.stringify({ id: 'a3', command: 'status' })),
      Buffer.from('{"id":"a4","command":"rollout.resume","rollout":"r","__proto__":{"x":1}}'),
    ];
    await fc.assert(
      fc.asyncProperty(inputArb(samples), fc.boolean(), async (b, retain) => {
        for (const proc of [p, missing]) {
          const reply = await checkTypedAsync(t, [], b, () => proc.handle({ payload: b, retain }));
          expect(reply).toBeDefined();
          expect(typeof reply!.ok).toBe('boolean');
          if (!reply!.ok) expect(reply!.error.message.length).toBeGreaterThan(0);
          if (retain) expect(reply!.ok).toBe(false);
        }
      }),
      fcParams(),
    );
    // Handlers ran only for commands that passed the schema: every call names a rollout id of 1..128 chars.
    for (const c of calls) expect(c.split(' ')[1]!.length).toBeGreaterThan(0);
    expect(t.crashes).toBe(0);
  });
});
