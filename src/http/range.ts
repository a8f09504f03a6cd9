/**
 * Range requests, RFC 9110 §14. One range is served as 206; a set of ranges is not (no
 * multipart/byteranges: no ESP32 client asks for one), so it is ignored and the whole image goes out
 * as 200, which §14.2 allows; a set none of whose ranges can be satisfied is 416.
 */

export type RangeAnswer =
  /** No Range, or one to ignore (§14.2: invalid, another unit, several ranges, or If-Range failed). */
  | { kind: 'full'; why?: string }
  | { kind: 'partial'; start: number; end: number }
  /** §15.5.17: 416 with Content-Range: bytes *\/size. */
  | { kind: 'unsatisfiable' };

interface Spec {
  first?: number;
  last?: number;
  suffix?: number;
}

const MAX_DIGITS = 15; // beyond Number.MAX_SAFE_INTEGER's precision an offset cannot be ours anyway

function parseSpecs(value: string): Spec[] | undefined {
  const m = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(.*)$/.exec(value);
  if (!m || m[1]!.toLowerCase() !== 'bytes') return undefined; // §14.1: unit names are case-insensitive
  const out: Spec[] = [];
  for (const raw of m[2]!.split(',')) {
    const part = raw.trim();
    if (part === '') continue; // §5.6.1: empty list elements are allowed and ignored
    const r = new RegExp(`^(\\d{0,${MAX_DIGITS}})-(\\d{0,${MAX_DIGITS}})$`).exec(part);
    if (!r || (r[1] === '' && r[2] === '')) return undefined;
    if (r[1] === '') out.push({ suffix: Number(r[2]) });
    else {
      const first = Number(r[1]);
      const last = r[2] === '' ? undefined : Number(r[2]);
      // §14.1.1: a last-pos below first-pos makes the whole ranges-specifier invalid.
      if (last !== undefined && last < first) return undefined;
      out.push(last === undefined ? { first } : { first, last });
    }
  }
  return out.length > 0 ? out : undefined;
}

/** The satisfiable [start, end] of one spec against a representation of `size` bytes (§14.1.2). */
function resolve(s: Spec, size: number): { start: number; end: number } | undefined {
  if (s.suffix !== undefined) {
    if (s.suffix === 0 || size === 0) return undefined;
    return { start: Math.max(0, size - s.suffix), end: size - 1 };
  }
  if (s.first! >= size) return undefined;
  return { start: s.first!, end: Math.min(s.last ?? size - 1, size - 1) };
}

/** §13.1.5 If-Range: only a strong entity-tag equal to ours lets the Range through; a date never does (we send no Last-Modified). */
export function ifRangeHolds(ifRange: string | undefined, etag: string): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  return v.startsWith('"') && v === etag;
}

export function answerRange(range: string | undefined, size: number, opts: { ifRange?: string | undefined; etag: string }): RangeAnswer {
  if (range === undefined) return { kind: 'full' };
  const specs = parseSpecs(range);
  if (!specs) return { kind: 'full', why: 'invalid Range ignored' };
  if (!ifRangeHolds(opts.ifRange, opts.etag)) return { kind: 'full', why: 'If-Range does not match the current ETag' };
  const satisfiable = specs.map((s) => resolve(s, size)).filter((r) => r !== undefined);
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  if (specs.length > 1) return { kind: 'full', why: `${specs.length} ranges asked; the whole representation is sent instead` };
  return { kind: 'partial', ...satisfiable[0]! };
}
