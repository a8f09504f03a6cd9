import { zonedParts, zonedTimeToUtc } from '../schedule/tz.ts';
import type { RolloutSpec, TimeWindow } from './spec.ts';

const DAY_INDEX: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * The concrete intervals (UTC ms) of a window that touch [from, to]. Each occurrence starts on a listed
 * day at `from` local time and ends at `to` (the next day if `to` is not after `from`), both converted
 * through the zone on their own date, so a window across a DST change keeps its wall-clock times.
 */
export function occurrences(w: TimeWindow, tz: string, fromMs: number, toMs: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const start = zonedParts(fromMs - 2 * 86_400_000, tz);
  const days = new Set(w.days.map((d) => DAY_INDEX[d]));
  const a = minutes(w.from);
  const b = minutes(w.to);
  for (let i = 0; i < 400; i++) {
    const dayStart = zonedTimeToUtc(start.year, start.month, start.day + i, 12, 0, tz);
    if (dayStart - 86_400_000 > toMs) break;
    const p = zonedParts(dayStart, tz);
    if (!days.has(p.weekday)) continue;
    const s = zonedTimeToUtc(p.year, p.month, p.day, Math.floor(a / 60), a % 60, tz);
    const endDay = b > a ? p.day : p.day + 1;
    const e = zonedTimeToUtc(p.year, p.month, endDay, Math.floor(b / 60), b % 60, tz);
    if (e > fromMs && s <= toMs) out.push([s, e]);
  }
  return out;
}

export type WindowVerdict = { open: true } | { open: false; untilMs: number; reason: string };

/**
 * May an update start at `nowMs` (wall clock)? Closed inside any deny window, and outside every allow
 * window when there are some. When closed, says until when (the real end of the blocking window).
 */
export function windowVerdict(spec: Pick<RolloutSpec, 'windows'>, nowMs: number): WindowVerdict {
  const { timezone: tz, deny, allow } = spec.windows;
  // Walk forward through adjoining windows: a deny window may end inside another one.
  let t = nowMs;
  let reason = '';
  for (let hop = 0; hop < 50; hop++) {
    let moved = false;
    for (const w of deny) {
      for (const [s, e] of occurrences(w, tz, t, t)) {
        if (s <= t && t < e) {
          reason ||= `maintenance window ${w.from}-${w.to} ${tz}${w.reason ? ` (${w.reason})` : ''}`;
          t = e;
          moved = true;
        }
      }
    }
    if (allow.length > 0) {
      const inside = allow.some((w) => occurrences(w, tz, t, t).some(([s, e]) => s <= t && t < e));
      if (!inside) {
        const next = allow.flatMap((w) => occurrences(w, tz, t, t + 8 * 86_400_000)).filter(([s]) => s > t).map(([s]) => s);
        if (next.length === 0) return { open: false, untilMs: t + 86_400_000, reason: 'no allowed window in the next week' };
        reason ||= `outside the allowed windows (${allow.map((w) => `${w.from}-${w.to}`).join(', ')} ${tz})`;
        t = Math.min(...next);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return t === nowMs ? { open: true } : { open: false, untilMs: t, reason };
}

/** The windows' hold on an update at `nowMs`, as a wait a device or a broadcast can honour: undefined when open. */
export function windowHold(spec: Pick<RolloutSpec, 'windows'>, nowMs: number): { seconds: number; reason: string } | undefined {
  const win = windowVerdict(spec, nowMs);
  return win.open ? undefined : { seconds: Math.max(1, Math.ceil((win.untilMs - nowMs) / 1000)), reason: win.reason };
}
