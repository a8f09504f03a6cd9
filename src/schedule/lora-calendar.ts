/**
 * Transfer appointments on one duty-cycled LoRa channel. The channel's throughput is known in advance
 * (duty cycle × time), so instead of handing a freed slot to whichever waiting device happens to be
 * asleep (the slot idles until it wakes) or telling a device a guess, each device gets a start time
 * from a calendar of `lanes` (maxConcurrentTransfers) and comes back exactly then. A device due within
 * `earlyMs` is granted at once: being a little early costs nothing, because the gate paces its blocks,
 * whereas a second "come back later" would cost a downlink.
 *
 * Bookings include the transfer's own check-in answer and ACKs. "Come back later" answers are not
 * booked: they come in bursts (a whole fleet checks in when a rollout starts), so each pushes the lanes
 * back as it is given. A device that comes at its time and finds the lanes still busy (transfers ran
 * long) is booked anew on the lane that frees first: one more "later", not one every few minutes.
 */
export type CalendarAnswer = { granted: true } | { granted: false; waitMs: number; position: number };

interface Booking {
  lane: number;
  /** Monotonic ms the transfer is booked to end. */
  end: number;
}

export class LoraCalendar {
  /** Monotonic ms at which each lane has served every transfer booked on it. */
  private readonly lanes: number[];
  private readonly appointments = new Map<string, number>();
  /** Granted devices: when they last used their grant, and their booking. */
  private readonly active = new Map<string, { last: number; booking: Booking | undefined }>();
  private readonly bookings = new Map<string, Booking>();

  constructor(
    readonly slots: number,
    private readonly idleMs: number,
    private readonly earlyMs: number,
    nowMono: number,
  ) {
    this.lanes = Array.from({ length: slots }, () => nowMono);
  }

  get activeCount(): number {
    return this.active.size;
  }

  get waiting(): number {
    return this.appointments.size;
  }

  has(deviceId: string): boolean {
    return this.active.has(deviceId);
  }

  /**
   * May the device transfer now? `holdMs` is the channel time its transfer takes on one lane (its
   * blocks at the paced duty cycle, times the number of lanes sharing the channel).
   */
  request(deviceId: string, holdMs: number, nowMono: number): CalendarAnswer {
    this.sweep(nowMono);
    const a = this.active.get(deviceId);
    if (a) {
      a.last = nowMono;
      return { granted: true };
    }
    let at = this.appointments.get(deviceId) ?? this.book(deviceId, holdMs, nowMono);
    // A device is served when its time has come (one more than the lanes may overlap for a while: a
    // transfer ending a little late), or at once while a lane stands idle (a transfer ended early or was
    // abandoned).
    const due = at - nowMono <= this.earlyMs;
    if ((due && this.active.size <= this.slots) || this.active.size < this.slots) {
      this.appointments.delete(deviceId);
      const booking = this.bookings.get(deviceId);
      this.bookings.delete(deviceId);
      this.active.set(deviceId, { last: nowMono, booking: booking && { lane: booking.lane, end: Math.max(booking.end, nowMono + holdMs) } });
      return { granted: true };
    }
    // Due, but the channel is behind its bookings: book the device again on the lane that frees first
    // (at least a lane's share from now), rather than send it back again and again (each "later" is a
    // downlink) to find the lanes still busy.
    if (due) at = this.book(deviceId, holdMs, nowMono + holdMs / this.slots);
    const wait = at - nowMono;
    return { granted: false, waitMs: Math.max(1000, wait), position: this.positionOf(deviceId) };
  }

  /**
   * Channel time no booking covered was spent now (a "come back later" answer): every busy lane, and
   * every running transfer, ends that much later.
   */
  push(channelMs: number, nowMono: number): void {
    for (let i = 0; i < this.lanes.length; i++) if (this.lanes[i]! > nowMono) this.lanes[i]! += channelMs;
    for (const a of this.active.values()) if (a.booking) a.booking.end += channelMs;
  }

  /** Books the device on the lane that frees first, not before `notBefore`; returns its start. */
  private book(deviceId: string, holdMs: number, notBefore: number): number {
    let lane = 0;
    for (let i = 1; i < this.lanes.length; i++) if (this.lanes[i]! < this.lanes[lane]!) lane = i;
    const at = Math.max(notBefore, this.lanes[lane]!);
    this.lanes[lane] = at + holdMs;
    this.appointments.set(deviceId, at);
    this.bookings.set(deviceId, { lane, end: at + holdMs });
    return at;
  }

  /** The device used its grant (a block was admitted or refused); it keeps it until `untilMono` at least. */
  touch(deviceId: string, untilMono: number): boolean {
    const a = this.active.get(deviceId);
    if (!a) return false;
    a.last = Math.max(a.last, untilMono);
    return true;
  }

  /**
   * Transfer done, failed or abandoned. Its booked lane time stays booked (later appointments were
   * given out). An overrun is not booked again here: the device it delays finds the lanes busy when
   * it comes, and is booked anew then (booking both would leave the channel idle later).
   */
  release(deviceId: string, nowMono: number): void {
    const a = this.active.get(deviceId);
    this.active.delete(deviceId);
    this.appointments.delete(deviceId);
    this.bookings.delete(deviceId);
  }

  /** Grants idle longer than idleMs end (power cut, device gone); appointments a day stale are forgotten. */
  sweep(nowMono: number): string[] {
    const freed: string[] = [];
    for (const [id, a] of this.active) {
      if (nowMono - a.last > this.idleMs) {
        this.active.delete(id);
        freed.push(id);
      }
    }
    if (this.appointments.size > 256) {
      for (const [id, at] of this.appointments) {
        if (at >= nowMono - 86_400_000) continue;
        this.appointments.delete(id);
        this.bookings.delete(id);
      }
    }
    return freed;
  }

  private positionOf(deviceId: string): number {
    const mine = this.appointments.get(deviceId) ?? 0;
    let n = 0;
    for (const at of this.appointments.values()) if (at < mine) n++;
    return n;
  }

  stop(): void {
    this.active.clear();
    this.appointments.clear();
    this.bookings.clear();
  }
}
