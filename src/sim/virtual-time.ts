import type { Clock } from '../clock.ts';

/** The simulation's time, handed to the daemon as its Clock: wall = epoch + t, monotonic = t. */
export class VirtualClock implements Clock {
  t = 0;
  constructor(readonly epochMs: number) {}
  now(): number {
    return this.epochMs + Math.floor(this.t);
  }
  monotonic(): number {
    return this.t;
  }
}

interface Ev {
  t: number;
  seq: number;
  fire: () => void;
}

/**
 * Discrete-event loop over real sockets. Devices are async coroutines that await `sleep` (virtual) and
 * UDP exchanges (real, on loopback, to the real daemon). Virtual time only moves when no exchange is in
 * flight and every coroutine is parked on a sleep, so the daemon always sees the time the device acts
 * at, and a day of radio time runs in seconds.
 */
export class EventLoop {
  private heap: Ev[] = [];
  private seq = 0;
  private inflight = 0;
  stopped = false;

  constructor(readonly clock: VirtualClock) {}

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.push(this.clock.t + Math.max(0, ms), resolve));
  }

  /** Wraps real I/O so the loop waits for it before moving time. */
  async io<T>(p: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      return await p();
    } finally {
      this.inflight--;
    }
  }

  private push(t: number, fire: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, fire });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): Ev | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }

  private async settle(): Promise<void> {
    do await new Promise<void>((r) => setImmediate(r));
    while (this.inflight > 0);
  }

  /** Runs until `done()` or nothing is scheduled or virtual time passes `untilT`. */
  async run(done: () => boolean, untilT: number, onStep?: () => void): Promise<void> {
    await this.settle();
    while (!this.stopped && !done()) {
      const ev = this.pop();
      if (!ev || ev.t > untilT) break;
      this.clock.t = Math.max(this.clock.t, ev.t);
      ev.fire();
      await this.settle();
      onStep?.();
    }
  }
}

const less = (a: Ev, b: Ev) => a.t < b.t || (a.t === b.t && a.seq < b.seq);
