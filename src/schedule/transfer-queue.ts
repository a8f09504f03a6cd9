import PQueue from 'p-queue';

export interface Grant {
  deviceId: string;
  startedMono: number;
  lastActivityMono: number;
  estimatedMs: number;
}

export type SlotAnswer = { granted: true } | { granted: false; waitMs: number; position: number };

/**
 * Transfer slots of one contention domain (a LoRa channel, or one NB-IoT cell at one coverage level).
 * p-queue holds the waiting devices in priority order and starts a "slot job" when one frees; the job
 * lasts until the device's transfer ends or its grant idles out. Devices sleep between check-ins, so
 * a waiting device is told when to come back: the time its slot is expected to free, computed from the
 * running transfers' estimated ends, not a guess.
 */
export class TransferQueue {
  private readonly queue: PQueue;
  private readonly grants = new Map<string, Grant & { release: () => void }>();
  private readonly waiting = new Map<string, { priority: number; seq: number; estimatedMs: number }>();
  private seq = 0;

  constructor(
    readonly name: string,
    readonly slots: number,
    private readonly idleMs: number,
    /** Monotonic ms; read when a slot job starts, which may happen inside someone else's release(). */
    private readonly monotonic: () => number,
  ) {
    this.queue = new PQueue({ concurrency: slots });
  }

  get active(): number {
    return this.grants.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  has(deviceId: string): boolean {
    return this.grants.has(deviceId);
  }

  /** Asks for a slot. A device already holding one keeps it (and its idle timer restarts). */
  request(deviceId: string, estimatedMs: number, priority: number, nowMono: number): SlotAnswer {
    this.sweep(nowMono);
    const g = this.grants.get(deviceId);
    if (g) {
      g.lastActivityMono = nowMono;
      return { granted: true };
    }
    const w = this.waiting.get(deviceId);
    if (w) {
      w.estimatedMs = estimatedMs;
      if (w.priority !== priority) {
        w.priority = priority;
        this.queue.setPriority(deviceId, priority);
      }
    } else {
      this.waiting.set(deviceId, { priority, seq: this.seq++, estimatedMs });
      void this.queue
        .add(
          () =>
            new Promise<void>((release) => {
              const entry = this.waiting.get(deviceId);
              // A job whose device left the line (or already holds a slot from a newer job) ends at once:
              // p-queue cannot drop a queued job.
              if (!entry || this.grants.has(deviceId)) {
                release();
                return;
              }
              this.waiting.delete(deviceId);
              const now = this.monotonic();
              // The slot is the device's from now; if it does not come to use it, the idle sweep frees it.
              this.grants.set(deviceId, {
                deviceId,
                startedMono: now,
                lastActivityMono: now,
                estimatedMs: entry.estimatedMs,
                release,
              });
            }),
          { id: deviceId, priority },
        )
        .catch(() => undefined);
    }
    // p-queue starts a job synchronously when a slot is free, so the grant may exist already.
    if (this.grants.has(deviceId)) return { granted: true };
    return { granted: false, ...this.estimateWait(deviceId, nowMono) };
  }

  /** Marks the device as using its slot (each admitted block does this). */
  touch(deviceId: string, activeUntilMono: number): boolean {
    const g = this.grants.get(deviceId);
    if (!g) return false;
    g.lastActivityMono = Math.max(g.lastActivityMono, activeUntilMono);
    return true;
  }

  /** The device's transfer ended (done, failed, or it left the rollout): free its slot or its place in line. */
  release(deviceId: string): void {
    const g = this.grants.get(deviceId);
    if (g) {
      this.grants.delete(deviceId);
      g.release();
    } else {
      this.waiting.delete(deviceId);
    }
  }

  /** Frees slots whose device went quiet (power cut, lost interest). */
  sweep(nowMono: number): string[] {
    const freed: string[] = [];
    for (const g of [...this.grants.values()]) {
      if (nowMono - g.lastActivityMono > this.idleMs) {
        freed.push(g.deviceId);
        this.release(g.deviceId);
      }
    }
    return freed;
  }

  private estimateWait(deviceId: string, nowMono: number): { waitMs: number; position: number } {
    const order = [...this.waiting.entries()].sort((a, b) => b[1].priority - a[1].priority || a[1].seq - b[1].seq);
    const position = order.findIndex(([id]) => id === deviceId);
    const ends = [...this.grants.values()].map((g) => Math.max(nowMono, g.startedMono + g.estimatedMs));
    while (ends.length < this.slots) ends.push(nowMono);
    ends.sort((a, b) => a - b);
    // Walk the line: each device ahead takes the earliest slot to free and holds it for its estimate.
    for (let i = 0; i < position; i++) {
      const est = order[i]![1].estimatedMs;
      ends[0] = ends[0]! + est;
      ends.sort((a, b) => a - b);
    }
    return { waitMs: Math.max(0, ends[0]! - nowMono), position };
  }

  stop(): void {
    this.queue.clear();
    for (const id of [...this.grants.keys()]) this.release(id);
    this.waiting.clear();
  }
}
