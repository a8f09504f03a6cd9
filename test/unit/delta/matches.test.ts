import { describe, expect, it } from 'vitest';
import { controlToMatches, readOfftin } from '../../../src/delta/bsdiff.ts';
import { dropRepeatedIslands, normalizeMatches, splitMismatchStreaks } from '../../../src/delta/matches.ts';

describe('matches', () => {
  it('reads BSDIFF40 offtin sign-magnitude integers', () => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(300, 0);
    b.writeUInt32LE(5, 8);
    b[15] = 0x80;
    expect(readOfftin(b, 0)).toBe(300);
    expect(readOfftin(b, 8)).toBe(-5);
  });

  it('turns bsdiff control triples into matches, clipped to both images', () => {
    // diff 10 at old 0, extra 5, seek -3 → next diff at old 7; the last one runs past the base and is clipped
    expect(controlToMatches([[10, 5, -3], [20, 0, 0]], 20, 35)).toEqual([
      { newStart: 0, oldStart: 0, len: 10 },
      { newStart: 15, oldStart: 7, len: 13 },
    ]);
  });

  it('merges adjacent matches and drops overlapping or out-of-range parts', () => {
    expect(
      normalizeMatches(
        [
          { newStart: 0, oldStart: 5, len: 4 },
          { newStart: 4, oldStart: 9, len: 4 },
          { newStart: 6, oldStart: 0, len: 4 },
          { newStart: 20, oldStart: -2, len: 5 },
        ],
        100,
        100,
      ),
    ).toEqual([
      { newStart: 0, oldStart: 5, len: 8 },
      { newStart: 8, oldStart: 2, len: 2 },
      { newStart: 22, oldStart: 0, len: 3 },
    ]);
  });

  it('moves long streaks of differing bytes out of matches and keeps short ones', () => {
    const oldImg = Buffer.alloc(40, 1);
    const newImg = Buffer.from(oldImg);
    newImg.fill(9, 10, 20); // 10 differing bytes: cut
    newImg.fill(9, 30, 33); // 3 differing bytes: kept as diff
    expect(splitMismatchStreaks([{ newStart: 0, oldStart: 0, len: 40 }], oldImg, newImg, 8)).toEqual([
      { newStart: 0, oldStart: 0, len: 10 },
      { newStart: 20, oldStart: 20, len: 20 },
    ]);
  });

  it('drops a short match whose bytes the extra stream already holds, and keeps long or novel ones', () => {
    const pattern = Buffer.from('0123456789abcdefghij'); // 20 bytes
    // new: pattern as extra (0..20), pattern again (20..40), 20 fresh bytes (40..60), a long repeat (60..120)
    const newImg = Buffer.concat([pattern, pattern, Buffer.from('ZYXWVUTSRQPONMLKJIHG'), Buffer.alloc(60, 7)]);
    const ms = [
      { newStart: 20, oldStart: 500, len: 20 }, // repeats extra bytes 0..20: dropped
      { newStart: 40, oldStart: 900, len: 20 }, // nothing like it in the extra stream: kept
      { newStart: 60, oldStart: 0, len: 60 }, // long: kept whatever it repeats
    ];
    expect(dropRepeatedIslands(ms, newImg, 32, 8)).toEqual(ms.slice(1));
    // the repeat must lie within the window of the extra stream
    const far = Buffer.concat([pattern, Buffer.alloc(100, 1), pattern]);
    const m = [{ newStart: 120, oldStart: 0, len: 20 }];
    expect(dropRepeatedIslands(m, far, 32, 8, 64)).toEqual(m);
    expect(dropRepeatedIslands(m, far, 32, 8, 16384)).toEqual([]);
  });
});
