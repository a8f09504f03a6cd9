/**
 * The C fuzz target (ASan + UBSan) on seeds made here: a real multi-chunk patch, an xz LZMA1 stream,
 * a gateway-signed manifest, a CoAP Block2 response, a check-in response. FURROW_FUZZ_INPUTS sets the count (default 10^5).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'coap-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePatch } from '../../../src/delta/index.ts';
import { encodeCbor, uint } from '../../../src/manifest/cbor.ts';
import { generateEs256KeyPair } from '../../../src/manifest/cose.ts';
import { signManifest } from '../../../src/manifest/delivery.ts';
import { readCorpus } from '../../helpers/corpus.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildFirmware, run } from './fw.ts';

const INPUTS = Number(process.env.FURROW_FUZZ_INPUTS ?? 100_000);

describe('fuzzing the firmware parsers under ASan/UBSan', () => {
  const tmp = tempDir('furrow-fuzz-');
  const seeds: string[] = [];
  beforeAll(async () => {
    buildFirmware('fuzz');
    const base = readCorpus('wled-esp32/0.14.3.bin').subarray(0, 18 * 1024);
    const next = Buffer.from(readCorpus('wled-esp32/0.14.4.bin').subarray(0, 20 * 1024));
    // the prefix cuts the image's segment table, so give the windows explicitly: the seed is a v2
    // patch and mutations reach the pointer-prediction path (FORMAT.md 5.2)
    const patch = await encodePatch(base, next, { chunkSize: 16384, pointerWindows: [[0x3f40, 0x3f45], [0x3ffb, 0x401c]] });
    expect(patch.readUInt16LE(4)).toBe(2);
    const lzma = execFileSync('xz', ['--format=raw', '--lzma1=lc=0,lp=0,pb=0,dict=4KiB', '-c'], { input: next.subarray(0, 6000) });
    const manifest = signManifest(
      {
        sequence: 1, product: 'farm-sensor', deviceId: 'sensor-1', baseSha256: Buffer.alloc(32, 0xab), patchSha256: Buffer.alloc(32, 1),
        patchSize: 1000, patchFormat: 2, chunkTableDigest: Buffer.alloc(32, 2), resultSha256: Buffer.alloc(32, 3), resultSize: 5000,
        secureVersion: 1, releaseStatement: Buffer.from([0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x41, 0x00, 0x40]), version: '1.2.3',
      },
      generateEs256KeyPair().privateKey,
    );
    const coap = generate({
      code: '2.05', messageId: 7, token: Buffer.from([1, 2, 3, 4]), ack: true,
      options: [
        { name: 'ETag', value: Buffer.alloc(8, 9) },
        { name: 'Content-Format', value: Buffer.from([60]) },
        { name: 'Block2', value: Buffer.from([0x01, 0x2e]) },
        { name: 'Size2', value: Buffer.from([0x01, 0x00, 0x00]) },
      ],
      payload: Buffer.alloc(64, 0x55),
    });
    const checkin = encodeCbor(
      new Map<number, unknown>([
        [1, uint(2)], [3, 'm/0123456789abcdef'], [4, 'p/0123456789abcdef'], [5, uint(65292)],
        [6, Buffer.alloc(8, 4)], [7, uint(6)], [8, Buffer.alloc(32, 5)], [99, 'ignored'],
      ]),
    );
    const files: Array<[string, Buffer]> = [
      ['patch.bin', patch], ['base.bin', base], ['lzma.bin', lzma], ['manifest.cose', manifest], ['coap.bin', coap], ['checkin.cbor', checkin],
    ];
    for (const [name, data] of files) {
      writeFileSync(join(tmp.dir, name), data);
      seeds.push(join(tmp.dir, name));
    }
  });
  afterAll(() => tmp.cleanup());

  it(`survives ${INPUTS} mutated patches, LZMA streams, manifests and CoAP messages`, () => {
    const r = run('fuzz_main', [String(INPUTS), '20261125', ...seeds]);
    expect(r.stderr.toString(), 'sanitizer report').toBe('');
    expect(r.status).toBe(0);
    const stats = JSON.parse(r.stdout.toString()) as Record<string, number | [number, number]>;
    expect(stats.inputs).toBe(INPUTS);
    console.log(`fuzz: ${r.stdout.toString().trim()}  ([inputs, accepted] per target)`);
    // the digest-fixing mode must reach the decoder: some mutations decode to a different valid image
    const fixed = stats.patch_fixed as [number, number];
    expect(fixed[0]).toBeGreaterThan(INPUTS / 10);
  });
});
