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
