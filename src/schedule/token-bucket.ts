/**
 * Token bucket on the monotonic clock. Tokens are whatever the caller meters (airtime ms, bytes); the
 * bucket only knows a refill rate per millisecond and a capacity. Time comes in as an argument so the
 * owner decides which clock (always monotonic in the daemon: an NTP step must not mint tokens).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerMs: number,
    readonly capacity: number,
    nowMono: number,
    initial = capacity,
  ) {
    if (!(ratePerMs > 0)) throw new RangeError(`token bucket rate must be > 0, got ${ratePerMs}`);
    if (!(capacity > 0)) throw new RangeError(`token bucket capacity must be > 0, got ${capacity}`);
    this.tokens = Math.min(initial, capacity);
    this.last = nowMono;
  }

  private refill(nowMono: number): void {
    // A clock that did go backwards (bad test double) must not drain the bucket.
    const dt = Math.max(0, nowMono - this.last);
    this.tokens = Math.min(this.capacity, this.tokens + dt * this.ratePerMs);
    this.last = Math.max(this.last, nowMono);
  }

  available(nowMono: number): number {
    this.refill(nowMono);
    return this.tokens;
  }

  /** Milliseconds until `amount` tokens are there (0 if now); Infinity if it exceeds the capacity. */
  waitMs(amount: number, nowMono: number): number {
    if (amount > this.capacity) return Infinity;
    this.refill(nowMono);
    return amount <= this.tokens ? 0 : (amount - this.tokens) / this.ratePerMs;
  }

  tryTake(amount: number, nowMono: number): boolean {
    this.refill(nowMono);
    if (amount > this.tokens) return false;
    this.tokens -= amount;
    return true;
  }

  /** Takes what was spent without asking (it already left); the bucket may go into debt. */
  force(amount: number, nowMono: number): void {
    this.refill(nowMono);
    this.tokens -= amount;
  }
}

/**
 * Exact sliding-window accountant: the sum of amounts used in any window of `windowMs` never exceeds
 * `limit`. This is the regulatory rule (ETSI: 1 % of any hour), where a token bucket alone would allow
 * its capacity on top of the rate.
 */
export class SlidingWindow {
  private readonly entries: Array<{ t: number; amount: number }> = [];
  private head = 0;
  private sum = 0;

  constructor(
    readonly windowMs: number,
    readonly limit: number,
  ) {}

  private expire(nowMono: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.t <= nowMono - this.windowMs) {
      this.sum -= this.entries[this.head]!.amount;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  used(nowMono: number): number {
    this.expire(nowMono);
    return this.sum;
  }

  /** Milliseconds until `amount` fits (0 if now); Infinity if it exceeds the whole window's limit. */
  waitMs(amount: number, nowMono: number): number {
    if (amount > this.limit) return Infinity;
    this.expire(nowMono);
    let excess = this.sum + amount - this.limit;
    if (excess <= 1e-9) return 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      excess -= e.amount;
      if (excess <= 1e-9) return Math.max(0, e.t + this.windowMs - nowMono);
    }
    return this.windowMs;
  }

  tryTake(amount: number, nowMono: number): boolean {
    if (this.waitMs(amount, nowMono) > 0) return false;
    this.force(amount, nowMono);
    return true;
  }

  /** Records what was spent without asking (it already left). */
  force(amount: number, nowMono: number): void {
    this.expire(nowMono);
    this.entries.push({ t: nowMono, amount });
    this.sum += amount;
  }

  /** The same history under another limit: a reload or a second bearer on the band must not reset what was spent. */
  withLimit(limit: number): SlidingWindow {
    const w = new SlidingWindow(this.windowMs, limit);
    for (let i = this.head; i < this.entries.length; i++) w.entries.push({ ...this.entries[i]! });
    w.sum = this.sum;
    return w;
  }
}
