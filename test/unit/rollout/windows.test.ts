import { describe, expect, it } from 'vitest';
import { rolloutSpecSchema } from '../../../src/rollout/spec.ts';
import { windowVerdict } from '../../../src/rollout/windows.ts';
import { zonedTimeToUtc } from '../../../src/schedule/tz.ts';

const spec = (windows: unknown) =>
  rolloutSpecSchema.parse({ release: { product: 'p', version: '1' }, waves: [{ size: 'rest' }], windows }) as Parameters<typeof windowVerdict>[0];
const utc = (s: string) => Date.parse(s);

describe('maintenance windows', () => {
  const milking = spec({ timezone: 'Europe/Berlin', deny: [{ from: '05:00', to: '07:30', reason: 'milking' }] });

  it('closes during milking in winter (CET, UTC+1) and says until when', () => {
    expect(windowVerdict(milking, utc('2026-01-15T03:59:00Z'))).toEqual({ open: true });
    const v = windowVerdict(milking, utc('2026-01-15T04:00:00Z'));
    expect(v).toMatchObject({ open: false, untilMs: utc('2026-01-15T06:30:00Z'), reason: expect.stringContaining('milking') });
    expect(windowVerdict(milking, utc('2026-01-15T06:30:00Z'))).toEqual({ open: true });
  });

  it('keeps local 05:00-07:30 across the spring DST change (CEST, UTC+2 from 29 March 2026)', () => {
    // Sunday 29 March 2026: clocks jump 02:00 → 03:00; milking still starts at 05:00 local = 03:00 UTC.
    expect(windowVerdict(milking, utc('2026-03-29T02:59:00Z'))).toEqual({ open: true });
    expect(windowVerdict(milking, utc('2026-03-29T03:00:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-03-29T05:30:00Z') });
    // The day before, still winter time.
    expect(windowVerdict(milking, utc('2026-03-28T03:30:00Z'))).toEqual({ open: true });
    expect(windowVerdict(milking, utc('2026-03-28T04:30:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-03-28T06:30:00Z') });
  });

  it('keeps local times across the autumn DST change (25 October 2026)', () => {
    expect(windowVerdict(milking, utc('2026-10-24T03:30:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-10-24T05:30:00Z') });
    expect(windowVerdict(milking, utc('2026-10-25T03:30:00Z'))).toEqual({ open: true });
    expect(windowVerdict(milking, utc('2026-10-25T04:30:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-10-25T06:30:00Z') });
  });

  it('handles a window across midnight and a window inside the DST gap', () => {
    const night = spec({ timezone: 'Europe/Berlin', deny: [{ from: '23:00', to: '02:30' }] });
    // 01:00 local on 29 March is inside; 02:30 local does not exist that night, so it ends at 03:30 CEST (01:30 UTC).
    expect(windowVerdict(night, utc('2026-03-29T00:00:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-03-29T01:30:00Z') });
    expect(zonedTimeToUtc(2026, 3, 29, 2, 30, 'Europe/Berlin')).toBe(utc('2026-03-29T01:30:00Z'));
  });

  it('opens only inside allow windows and only on the listed days', () => {
    const s = spec({ timezone: 'America/New_York', allow: [{ days: ['sat', 'sun'], from: '01:00', to: '04:00' }] });
    // Wednesday 18 Nov 2026 noon New York (EST, UTC-5) → next Saturday 21 Nov 01:00 EST = 06:00 UTC.
    expect(windowVerdict(s, utc('2026-11-18T17:00:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-11-21T06:00:00Z') });
    expect(windowVerdict(s, utc('2026-11-21T07:00:00Z'))).toEqual({ open: true });
  });

  it('skips over a deny window that starts where another ends', () => {
    const s = spec({ timezone: 'UTC', deny: [{ from: '05:00', to: '06:00' }, { from: '06:00', to: '07:00' }] });
    expect(windowVerdict(s, utc('2026-06-01T05:30:00Z'))).toMatchObject({ open: false, untilMs: utc('2026-06-01T07:00:00Z') });
  });
});
