/**
 * The encoder's view of a delta: a sorted list of matches (a run of the new image that is encoded as
 * base bytes plus a byte-wise difference). Every new byte outside a match comes from the extra stream.
 * Any matcher (bsdiff today) produces this; the chunk encoder turns it into furrow streams.
 */
export interface Match {
  newStart: number;
  oldStart: number;
  len: number;
}

/** Drops empty matches and clips to both images so a sloppy matcher can never produce an invalid patch. */
export function normalizeMatches(ms: Match[], oldSize: number, newSize: number): Match[] {
  const out: Match[] = [];
  let lastEnd = 0;
  for (const m of ms) {
    let { newStart, oldStart, len } = m;
    if (oldStart < 0) {
      newStart -= oldStart;
      len += oldStart;
      oldStart = 0;
    }
    if (newStart < lastEnd) {
      const cut = lastEnd - newStart;
      newStart += cut;
      oldStart += cut;
      len -= cut;
    }
    len = Math.min(len, oldSize - oldStart, newSize - newStart);
    if (len <= 0) continue;
    const prev = out.at(-1);
    if (prev && prev.newStart + prev.len === newStart && prev.oldStart + prev.len === oldStart) prev.len += len;
    else out.push({ newStart, oldStart, len });
    lastEnd = newStart + len;
  }
  return out;
}

/**
 * Cuts every streak of at least `minStreak` consecutive differing bytes out of the matches, so those
 * bytes go to the extra stream. bsdiff extends matches across regions that are only ~50 % equal; a long
 * streak of nonzero diff bytes costs more there than as extra bytes. Measured on the corpus (streak 8):
 * −0.8 % / −0.15 % / −0.07 % patch size; shorter streaks (3–4) make patches larger, longer ones gain less.
 */
export function splitMismatchStreaks(ms: Match[], oldImg: Uint8Array, newImg: Uint8Array, minStreak = 8): Match[] {
  const out: Match[] = [];
  for (const m of ms) {
    let runStart = 0;
    let i = 0;
    while (i < m.len) {
      if (newImg[m.newStart + i] === oldImg[m.oldStart + i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < m.len && newImg[m.newStart + j] !== oldImg[m.oldStart + j]) j++;
      if (j - i >= minStreak) {
        if (i > runStart) out.push({ newStart: m.newStart + runStart, oldStart: m.oldStart + runStart, len: i - runStart });
        runStart = j;
      }
      i = j;
    }
    if (m.len > runStart) out.push({ newStart: m.newStart + runStart, oldStart: m.oldStart + runStart, len: m.len - runStart });
  }
  return out;
}

/**
 * Drops short matches (< `maxLen` bytes) whose new bytes already occur, `minRepeat` bytes or more,
 * within the last `window` bytes of the extra stream as it will be written: there the extra coder
 * codes them as one LZ match, which is cheaper than a control entry plus a diff run. bsdiff picks such
 * matches inside new data that repeats itself (tables, fonts). Measured on the corpus (32 / 8 / 16 KiB):
 * +0.01 / −1.3 / −0.13 % patch size (WLED .3→.4 / NerdMiner / WLED .4→.15).
 */
export function dropRepeatedIslands(ms: Match[], newImg: Uint8Array, maxLen = 32, minRepeat = 8, window = 16384): Match[] {
  const out: Match[] = [];
  let extra = new Uint8Array(4096);
  let extraLen = 0;
  // hash chains over the extra stream: head[h] is the latest position whose 4 bytes hash to h,
  // prev[p] the one before it (a 16-step walk, stopped at the window, bounds the search)
  const head = new Int32Array(1 << 16).fill(-1);
  let prev = new Int32Array(4096);
  const hash = (b: Uint8Array, p: number) => (Math.imul(b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24), 0x9e3779b1) >>> 16) & 0xffff;
  const append = (from: number, to: number) => {
    if (extraLen + (to - from) > extra.length) {
      const size = Math.max(2 * extra.length, extraLen + (to - from));
      const next = new Uint8Array(size);
      next.set(extra.subarray(0, extraLen));
      extra = next;
      const nextPrev = new Int32Array(size);
      nextPrev.set(prev.subarray(0, extraLen));
      prev = nextPrev;
    }
    for (let p = from; p < to; p++) {
      extra[extraLen++] = newImg[p]!;
      const q = extraLen - 4;
      if (q < 0) continue;
      const h = hash(extra, q);
      prev[q] = head[h]!;
      head[h] = q;
    }
  };
  // longest run of the match's bytes (starting within its first 8) found in the extra window
  const longestRepeat = (start: number, len: number): number => {
    let best = 0;
    for (let s = 0; s + 4 <= len && s <= 8 && best < len - s; s++) {
      for (let c = head[hash(newImg, start + s)]!, steps = 0; c >= 0 && steps < 16 && extraLen - c <= window; c = prev[c]!, steps++) {
        let l = 0;
        while (s + l < len && c + l < extraLen && extra[c + l] === newImg[start + s + l]) l++;
        if (l > best) best = l;
      }
    }
    return best;
  };
  let pos = 0;
  for (const m of ms) {
    append(pos, m.newStart);
    pos = m.newStart + m.len;
    if (m.len < maxLen && m.len >= 4 && longestRepeat(m.newStart, m.len) >= Math.min(minRepeat, m.len)) append(m.newStart, pos);
    else out.push(m);
  }
  return out;
}

/** Length limits under which `shortMatchCandidates` drops matches. */
export const SHORT_MATCH_CUTS = [8, 12, 16, 48];

/**
 * Alternative match lists for the encoder to choose from per chunk: the list itself, then the list
 * without matches shorter than each of SHORT_MATCH_CUTS. Whether a short match pays for its control
 * entry depends on how well the new data around it compresses as extra bytes, which only the coder
 * knows: on the corpus the best limit per chunk ranges from none (WLED) to 48 bytes (NerdMiner).
 */
export function shortMatchCandidates(ms: Match[]): Match[][] {
  return [ms, ...SHORT_MATCH_CUTS.map((min) => ms.filter((m) => m.len >= min))];
}
