import { describe, expect, it } from 'vitest';
import { demoImage } from '../../../src/release/demo-image.ts';
import { parseEspImage } from '../../../src/release/esp-image.ts';

describe('demo ESP images (furrow demo image)', () => {
  it('pass every check of the image parser and carry the product, version and secure version asked for', () => {
    const img = demoImage({ product: 'soil-probe', version: '1.4.1', secureVersion: 3, size: 20_000 });
    const p = parseEspImage(img, 'demo.bin');
    expect(p).toMatchObject({ chip: 'esp32', hashAppended: true, appDesc: { version: '1.4.1', projectName: 'soil-probe', secureVersion: 3 } });
    expect(p.segments).toHaveLength(2);
    expect(img.length).toBeGreaterThan(20_000 - 16);
    expect(img.length).toBeLessThan(20_000 + 128);
  });

  it('are the same bytes for the same options, and two versions of a product share most of them', () => {
    const a = demoImage({ product: 'soil-probe', version: '1.4.1' });
    expect(demoImage({ product: 'soil-probe', version: '1.4.1' }).equals(a)).toBe(true);
    const b = demoImage({ product: 'soil-probe', version: '1.4.2' });
    const other = demoImage({ product: 'rain-gauge', version: '1.4.1' });
    expect(b.equals(a)).toBe(false);
    // A 96-byte insertion and a few edited words: every 4-byte run of the new code but a few hundred
    // appears in the old one (another product shares none), which is what makes their patch small.
    const runs = (x: Buffer) => new Set(Array.from({ length: Math.floor(x.length / 4) }, (_, i) => x.readUInt32LE(4 * i)));
    const inA = runs(a);
    const shared = (x: Buffer) => [...runs(x)].filter((w) => inA.has(w)).length / runs(x).size;
    expect(shared(other)).toBeLessThan(0.01);
    expect(shared(b)).toBeGreaterThan(0.95);
  });

  it('refuses a size outside 4 KiB .. 1 MiB', () => {
    expect(() => demoImage({ product: 'p', version: '1', size: 1000 })).toThrow(/4096\.\.1048576/);
    expect(() => demoImage({ product: 'p', version: '1', size: 2 * 1024 * 1024 })).toThrow(RangeError);
  });
});
