import { describe, expect, it } from 'vitest';
import { EspImageError, parseEspImage } from '../../../src/release/esp-image.ts';
import { CORPUS_IMAGES, readCorpus } from '../../helpers/corpus.ts';

function parseError(buf: Buffer): EspImageError {
  try {
    parseEspImage(buf, 'test.bin');
  } catch (err) {
    expect(err).toBeInstanceOf(EspImageError);
    return err as EspImageError;
  }
  throw new Error('expected the image to be rejected');
}

describe('ESP application image parser', () => {
  for (const img of CORPUS_IMAGES) {
    it(`parses ${img.file} as ${img.chip} with a verified appended SHA-256`, () => {
      const parsed = parseEspImage(readCorpus(img.file), img.file);
      expect(parsed.chip).toBe(img.chip);
      expect(parsed.hashAppended).toBe(true);
      expect(parsed.sha256).toBe(img.sha256);
      expect(parsed.size).toBe(img.size);
      expect(parsed.segments.length).toBeGreaterThan(1);
      expect(parsed.segments[0]!.offset).toBe(0x20);
    });
  }

  const wled = () => readCorpus('wled-esp32/0.14.4.bin');

  it('rejects a file cut inside a segment as truncated, naming the segment', () => {
    const e = parseError(wled().subarray(0, 200_000));
    expect(e.check).toBe('truncated');
    expect(e.message).toMatch(/segment \d+/);
  });

  it('rejects a file cut inside the header as truncated', () => {
    expect(parseError(wled().subarray(0, 10)).check).toBe('truncated');
  });

  it('rejects a file that lost only its appended SHA-256 as truncated', () => {
    const buf = wled();
    expect(parseError(buf.subarray(0, buf.length - 10)).check).toBe('truncated');
  });

  it('rejects a bit flip inside a segment as a checksum failure', () => {
    const buf = Buffer.from(wled());
    buf[5000]! ^= 0x01;
    const e = parseError(buf);
    expect(e.check).toBe('checksum');
    expect(e.hint).toMatch(/modified/);
  });

  it('rejects a bit flip that keeps the XOR checksum (two flips) through the appended SHA-256', () => {
    const buf = Buffer.from(wled());
    buf[5000]! ^= 0x01;
    buf[6000]! ^= 0x01;
    expect(parseError(buf).check).toBe('sha256');
  });

  it('rejects a file that is not an ESP image by its magic byte', () => {
    const e = parseError(Buffer.from('\x7fELF and then some more bytes to pass the header size'));
    expect(e.check).toBe('magic');
    expect(e.message).toMatch(/0x7f/);
  });

  it('rejects bytes appended after the image', () => {
    expect(parseError(Buffer.concat([wled(), Buffer.alloc(16, 0xff)])).check).toBe('trailing-data');
  });

  it('rejects a header that declares no segments', () => {
    const buf = Buffer.from(wled());
    buf[1] = 0;
    expect(parseError(buf).check).toBe('segment-count');
  });

  it('reads esp_app_desc_t but keeps the lib-builder version it carries as information only', () => {
    const parsed = parseEspImage(readCorpus('nerdminer-tdisplay-s3/1.6.1.bin'));
    expect(parsed.appDesc.projectName).toBe('arduino-lib-builder');
    expect(parsed.appDesc.idfVersion).toBe('v4.4.4');
  });
});
