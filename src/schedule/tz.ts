/**
 * Calendar math in IANA time zones with only `Intl.DateTimeFormat` (no tz database package): wall-clock
 * parts of an instant, and the instant of a wall-clock time, across DST changes.
 */
export interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday .. 6 = Saturday */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

export function zonedParts(ms: number, tz: string): ZonedParts {
  const out: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) out[p.type] = p.value;
  return {
    year: Number(out.year),
    month: Number(out.month),
    day: Number(out.day),
    hour: Number(out.hour) % 24,
    minute: Number(out.minute),
    second: Number(out.second),
    weekday: WEEKDAYS[out.weekday!] ?? 0,
  };
}

/** Offset of the zone from UTC at an instant, in ms (Berlin in summer: +7 200 000). */
export function zoneOffsetMs(ms: number, tz: string): number {
  const p = zonedParts(ms, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant at which the zone's clocks show this wall time. A time that does not exist (skipped by a
 * spring-forward change) is pushed forward by the length of the gap (02:30 → 03:30, like Temporal's
 * "compatible"); a time that exists twice (autumn) maps to the earlier one. Month/day overflow is
 * normalised like Date.UTC does.
 */
export function zonedTimeToUtc(year: number, month: number, day: number, hour: number, minute: number, tz: string): number {
  const local = Date.UTC(year, month - 1, day, hour, minute);
  const before = zoneOffsetMs(local - 86_400_000 / 2, tz);
  const after = zoneOffsetMs(local + 86_400_000 / 2, tz);
  const candidates = [local - Math.max(before, after), local - Math.min(before, after)];
  for (const c of candidates) {
    if (zoneOffsetMs(c, tz) + c === local) return c;
  }
  // In a gap: no instant shows this wall time; read it with the offset in force before the change.
  return local - before;
}

export function startOfNextDay(ms: number, tz: string): number {
  const p = zonedParts(ms, tz);
  return zonedTimeToUtc(p.year, p.month, p.day + 1, 0, 0, tz);
}

export function startOfNextMonth(ms: number, tz: string): number {
  const p = zonedParts(ms, tz);
  return zonedTimeToUtc(p.year, p.month + 1, 1, 0, 0, tz);
}

/** "2026-11-25" in the zone; used as the key of a daily period. */
export function dayKey(ms: number, tz: string): string {
  const p = zonedParts(ms, tz);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

export function monthKey(ms: number, tz: string): string {
  const p = zonedParts(ms, tz);
  return `${p.year}-${String(p.month).padStart(2, '0')}`;
}
