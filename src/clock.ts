/**
 * Time as the daemon sees it. The rule: wall time (`now`) only for what an operator schedules in
 * calendar terms (maintenance windows, deadlines, timestamps in the DB); monotonic time (`monotonic`)
 * for every duration (token buckets, soak timers, timeouts), so an NTP jump at boot cannot stretch or
 * cut a duty-cycle budget. Tests substitute both.
 */
export interface Clock {
  /** Wall-clock unix milliseconds. */
  now(): number;
  /** Monotonic milliseconds since an arbitrary origin; never goes backwards. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
