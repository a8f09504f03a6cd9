import type { Clock } from '../clock.ts';
import type { AdmitResult, TransmitGate } from '../policy.ts';
import type { RadioAdvice } from '../coap/deps.ts';
import type { Db } from '../store/database.ts';
import { alignToCycle, ceLevel, cellularMaxConcurrent, type CeLevel } from './cellular.ts';
import type { BearerModelConfig, LoraBearerConfig, ScheduleConfig } from './config.ts';
import { blockSizeFor, COAP_BLOCK_OVERHEAD, estimateTransfer, loraLimits, type LoraLimits, type TransferEstimate } from './bearer-model.ts';
import { bandWindows } from './band-windows.ts';
import { loraTimeOnAirMs } from './lora-airtime.ts';
import { SlidingWindow, TokenBucket } from './token-bucket.ts';
import { TransferQueue } from './transfer-queue.ts';
import { LoraCalendar } from './lora-calendar.ts';
import { loraTransferPlan, type LoraTransferPlan } from './lora-plan.ts';
import { UsageLedger } from './usage.ts';

const overheadOf = (m: BearerModelConfig): number => (m.kind === 'lora' ? m.frameOverheadBytes : m.kind === 'udp' ? 28 : m.datagramOverheadBytes);

export interface TransferRequest {
  deviceId: string;
  bearer: string;
  /** Bytes the device still has to download. */
  bytes: number;
  rsrp?: number | undefined;
  snr?: number | undefined;
  /** Cell the device camps on, if known (NB-IoT/LTE-M); devices of unknown cell share one. */
  cell?: string | undefined;
  /** Higher goes first (rollout priority). */
  priority?: number;
}

/** A device due within this long on the LoRa calendar is granted at once rather than told to come back (a downlink). */
const CALENDAR_EARLY_MS = 10_000;

export type TransferAnswer = { ok: true } | { ok: false; retryAfterSeconds: number; reason: string };

/** Per-bearer counters for status, metrics and the simulator's cross-check. */
export interface BearerStats {
  admittedBytes: number;
  admittedFrames: number;
  airtimeMs: number;
  refused: number;
}

interface BearerState {
  name: string;
  model: BearerModelConfig;
  lora?: LoraLimits;
  airBucket?: TokenBucket;
  window?: SlidingWindow;
  link?: TokenBucket;
  queues: Map<string, TransferQueue>;
  stats: BearerStats;
  /** LoRa: when each refused device may send its next block, and the end of that line (monotonic ms). */
  reservations?: Map<string, number>;
  cursor?: number;
  /** Set by admit() on a metered bearer: the next datagram charged is that block. */
  admittedPending?: number;
  /** LoRa: transfer appointments (instead of slots handed to sleeping devices). */
  calendar?: LoraCalendar;
}

/**
 * The radio scheduler. `requestTransfer` (asked by the rollout engine at check-in) hands out transfer
 * slots and "come back at T"; `admit` (asked by the CoAP server for every block it is about to send) is
 * the enforcement point: no datagram leaves over a duty cycle, dwell time, link rate or SIM budget.
 * Durations run on the monotonic clock; SIM budget periods on the wall clock (they are calendar days).
 */
export class Scheduler implements TransmitGate, RadioAdvice {
  private bearers = new Map<string, BearerState>();
  private readonly queueOf = new Map<string, TransferQueue>();
  private usage: UsageLedger;
  /** Bearers whose transport charges every datagram it sends (MeteredTransport): admit only checks there. */
  private readonly metered = new Set<string>();

  constructor(
    private config: ScheduleConfig,
    private readonly clock: Clock,
    private readonly db?: Db,
  ) {
    this.usage = new UsageLedger(db, config.timezone);
    this.build(config);
  }

  private build(config: ScheduleConfig): void {
    const now = this.clock.monotonic();
    const next = new Map<string, BearerState>();
    const bandWindow = bandWindows(config, this.bearers.values());
    for (const [name, model] of Object.entries(config.bearers)) {
      const old = this.bearers.get(name);
      const st: BearerState = { name, model, queues: new Map(), stats: old?.stats ?? { admittedBytes: 0, admittedFrames: 0, airtimeMs: 0, refused: 0 } };
      if (model.kind === 'lora') {
        st.lora = loraLimits(model);
        // The bucket starts empty: a restart must not grant a fresh burst on top of what was just sent.
        // It paces every frame (blocks and the replies nobody asks about) at the duty cycle less the
        // control reserve, so the hourly window below is a backstop that does not stall the channel.
        st.airBucket = new TokenBucket(st.lora.dutyCycle * (1 - model.controlReservePercent / 100), Math.max(model.burstMs, st.lora.maxFrameMs), now, 0);
        st.window = bandWindow(model);
        st.reservations = new Map();
        st.cursor = now;
        st.calendar = new LoraCalendar(model.maxConcurrentTransfers, config.grantIdleSeconds * 1000, CALENDAR_EARLY_MS, now);
      }
      const linkRate = model.kind === 'lora' ? undefined : model.linkBytesPerSecond;
      if (linkRate) st.link = new TokenBucket(linkRate / 1000, Math.max(linkRate, 2048), now, 0);
      // Keep the accounting of an unchanged bearer across a reload: resetting it would let a reload
      // mint airtime.
      if (old && JSON.stringify(old.model) === JSON.stringify(model)) {
        Object.assign(st, { airBucket: old.airBucket, link: old.link, queues: old.queues, reservations: old.reservations, cursor: old.cursor, calendar: old.calendar ?? st.calendar });
      } else {
        old?.queues.forEach((q) => q.stop());
        old?.calendar?.stop();
      }
      next.set(name, st);
    }
    for (const [name, old] of this.bearers) {
      if (next.has(name)) continue;
      old.queues.forEach((q) => q.stop());
      old.calendar?.stop();
    }
    this.bearers = next;
  }

  reconfigure(config: ScheduleConfig): void {
    this.usage.flush();
    if (config.timezone !== this.config.timezone) this.usage = new UsageLedger(this.db, config.timezone);
    this.config = config;
    this.queueOf.clear();
    this.build(config);
  }

  model(bearer: string): BearerModelConfig | undefined {
    return this.bearers.get(bearer)?.model;
  }

  stats(bearer: string): BearerStats | undefined {
    return this.bearers.get(bearer)?.stats;
  }

  /** Block size the device should ask for on this bearer (the CoAP check-in's preferred SZX). */
  preferredBlockSize(bearer: string): number {
    return blockSizeFor(this.model(bearer));
  }

  estimate(bearer: string, bytes: number, coverage: { rsrp?: number | undefined; snr?: number | undefined } = {}): TransferEstimate {
    return estimateTransfer(this.model(bearer), bytes, ceLevel(coverage));
  }

  /** Airtime in ms one datagram of `bytes` takes on a LoRa bearer (undefined for other bearers). */
  frameAirtimeMs(bearer: string, bytes: number): number | undefined {
    const st = this.bearers.get(bearer);
    if (!st?.lora || st.model.kind !== 'lora') return undefined;
    return loraTimeOnAirMs(st.lora.radio, Math.min(255, bytes + st.model.frameOverheadBytes));
  }

  private queueFor(st: BearerState, req: TransferRequest, ce: CeLevel): TransferQueue {
    const m = st.model;
    const key = m.kind === 'nbiot' || m.kind === 'ltem' ? `${req.cell ?? 'cell'}:ce${ce}` : 'all';
    let q = st.queues.get(key);
    if (!q) {
      const slots = m.kind === 'lora' ? m.maxConcurrentTransfers : m.kind === 'udp' ? 64 : cellularMaxConcurrent(m, ce);
      q = new TransferQueue(`${st.name}/${key}`, slots, this.config.grantIdleSeconds * 1000, () => this.clock.monotonic());
      st.queues.set(key, q);
    }
    return q;
  }

  /** May this device start (or keep) downloading now? Otherwise: when to come back and why. */
  requestTransfer(req: TransferRequest): TransferAnswer {
    const st = this.bearers.get(req.bearer);
    if (!st) return { ok: true };
    const nowWall = this.clock.now();
    const budget = this.usage.waitFor(req.bearer, st.model.sim, 1, nowWall);
    if (budget.waitMs > 0) return { ok: false, retryAfterSeconds: budget.waitMs / 1000, reason: budget.reason };
    if (st.calendar && st.model.kind === 'lora') return this.requestLora(st, st.calendar, req);
    const ce = ceLevel(req);
    const q = this.queueFor(st, req, ce);
    const prev = this.queueOf.get(req.deviceId);
    if (prev && prev !== q) prev.release(req.deviceId);
    this.queueOf.set(req.deviceId, q);
    const est = estimateTransfer(st.model, Math.max(1, req.bytes), ce);
    // A LoRa channel is shared: with k transfers at once, each takes k times as long.
    const holdMs = st.model.kind === 'lora' ? est.durationMs * q.slots : est.durationMs;
    const answer = q.request(req.deviceId, holdMs, req.priority ?? 0, this.clock.monotonic());
    if (answer.granted) return { ok: true };
    const cycle = st.model.kind === 'nbiot' || st.model.kind === 'ltem' ? st.model.edrxCycleSeconds : undefined;
    const waitMs = Math.max(1000, alignToCycle(answer.waitMs, cycle));
    return {
      ok: false,
      retryAfterSeconds: waitMs / 1000,
      reason: `${q.active} transfer${q.active === 1 ? '' : 's'} running on ${q.name} (limit ${q.slots}); ${answer.position + 1} in line`,
    };
  }

  /**
   * LoRa: the device gets a start time on the channel's calendar, one lane per concurrent transfer, each
   * booked for the transfer's frames at the duty cycle; it is told to come back exactly then.
   */
  private requestLora(st: BearerState, cal: LoraCalendar, req: TransferRequest): TransferAnswer {
    const plan = this.loraPlan(st, req.bytes);
    const mono = this.clock.monotonic();
    const answer = cal.request(req.deviceId, plan.laneMs, mono);
    if (answer.granted) return { ok: true };
    // The "come back later" about to be sent takes channel time from every booking.
    cal.push(plan.laterMs, mono);
    return {
      ok: false,
      retryAfterSeconds: answer.waitMs / 1000,
      reason: `${cal.activeCount} transfer${cal.activeCount === 1 ? '' : 's'} on ${st.name} (${cal.slots} at once); ${answer.position + 1} booked before`,
    };
  }

  private loraPlan(st: BearerState, bytes: number): LoraTransferPlan {
    const m = st.model as LoraBearerConfig;
    return loraTransferPlan(m, st.lora!, Math.max(1, bytes));
  }

  /** RadioAdvice: replies on a LoRa bearer cost duty-cycle airtime. */
  dutyCycled(bearer: string): boolean {
    return this.bearers.get(bearer)?.lora !== undefined;
  }

  /**
   * RadioAdvice: the pace at which a device's block requests use exactly its lane of the channel (its
   * booked lane time spread over its blocks). Asking faster only gets requests dropped.
   */
  blockIntervalMs(bearer: string, bytes: number): number | undefined {
    const st = this.bearers.get(bearer);
    if (!st?.lora) return undefined;
    return Math.floor(this.loraPlan(st, bytes).blockIntervalMs);
  }

  /** RadioAdvice: how long a device with nothing to do should stay away (bearer model's idleCheckinSeconds). */
  idleCheckinSeconds(bearer: string): number | undefined {
    const m = this.bearers.get(bearer)?.model;
    return m?.kind === 'lora' ? m.idleCheckinSeconds : undefined;
  }

  /** The device is done with the bearer (transfer complete, failed, or it left the rollout). */
  releaseTransfer(deviceId: string): void {
    this.queueOf.get(deviceId)?.release(deviceId);
    this.queueOf.delete(deviceId);
    const mono = this.clock.monotonic();
    for (const st of this.bearers.values()) st.calendar?.release(deviceId, mono);
  }

  /** A MeteredTransport for this bearer charges every datagram it sends; from now on admit() only checks. */
  meter(bearer: string): void {
    this.metered.add(bearer);
  }

  /**
   * TransmitGate: asked before each patch block is sent. Checks the block (with its CoAP header) against
   * duty cycle, dwell time, link rate and SIM budget, keeping a reserve of the duty cycle for the
   * datagrams that are not asked about (check-in replies, report ACKs, retransmitted replies). Takes
   * the budget itself unless the bearer's transport is metered, which charges what really leaves.
   */
  admit(bearer: string, deviceId: string, bytes: number): AdmitResult {
    const st = this.bearers.get(bearer);
    if (!st) return { ok: true };
    const mono = this.clock.monotonic();
    const nowWall = this.clock.now();
    const m = st.model;
    const datagram = bytes + COAP_BLOCK_OVERHEAD;
    const wire = datagram + overheadOf(m);
    // Asking counts as using the slot, even when refused: a device waiting out a Max-Age keeps it.
    this.queueOf.get(deviceId)?.touch(deviceId, mono);
    st.calendar?.touch(deviceId, mono);
    const refuse = (waitMs: number, reason: string): AdmitResult => {
      st.stats.refused++;
      // The device keeps its slot while it waits out the Max-Age we are about to give it.
      this.queueOf.get(deviceId)?.touch(deviceId, mono + waitMs);
      st.calendar?.touch(deviceId, mono + waitMs);
      return { ok: false, retryAfterSeconds: Math.max(0.001, waitMs / 1000), reason };
    };
    const budget = this.usage.waitFor(bearer, m.sim, wire, nowWall);
    if (budget.waitMs > 0) return refuse(budget.waitMs, budget.reason);
    if (st.lora && m.kind === 'lora') {
      if (wire > 255) return refuse(3_600_000, `datagram of ${datagram} bytes does not fit one LoRa frame on ${bearer} (max ${st.lora.maxDatagram}); use smaller blocks`);
      const airtime = loraTimeOnAirMs(st.lora.radio, wire);
      if (airtime > st.lora.dwellMs) {
        return refuse(3_600_000, `frame of ${wire} bytes takes ${airtime.toFixed(1)} ms on air, above the ${st.lora.dwellMs} ms dwell time; use blocks of at most ${st.lora.maxDatagram - COAP_BLOCK_OVERHEAD} bytes`);
      }
      const reserve = (m.controlReservePercent / 100) * st.lora.windowLimitMs;
      const wait = Math.max(st.airBucket!.waitMs(airtime, mono), st.window!.waitMs(airtime + reserve, mono));
      const line = this.lineUp(st, deviceId, mono, wait, airtime / st.lora.dutyCycle);
      // Short on purpose: the reason travels as the 5.03 diagnostic payload, on the same scarce airtime.
      if (line > 0) return refuse(line, `duty cycle ${m.subBand}`);
    }
    if (st.link) {
      const wait = st.link.waitMs(wire, mono);
      if (wait > 0) return refuse(wait, `link rate of ${bearer} is used up for now`);
    }
    if (!this.metered.has(bearer)) this.charge(bearer, datagram);
    else st.admittedPending = (st.admittedPending ?? 0) + 1;
    return { ok: true };
  }

  /**
   * Devices refused for duty cycle are given staggered times, one frame interval apart, instead of all
   * the same "when the bucket refills" (they would all come back together and all but one be refused
   * again, each refusal costing a downlink). Returns 0 when the device may send now.
   */
  private lineUp(st: BearerState, deviceId: string, mono: number, waitMs: number, intervalMs: number): number {
    const res = st.reservations!;
    const mine = res.get(deviceId);
    if (mine !== undefined && mono < mine - 1) return mine - mono;
    if (res.size > 64) for (const [id, t] of res) if (t < mono - 3_600_000) res.delete(id);
    if (waitMs <= 0 && (mine !== undefined || st.cursor! <= mono)) {
      res.delete(deviceId);
      return 0;
    }
    if (mine !== undefined) {
      // Its turn came but the airtime is not there yet (replies nobody asked for took it): stay first.
      const at = mono + Math.max(waitMs, 1);
      res.set(deviceId, at);
      return at - mono;
    }
    const at = Math.max(mono + waitMs, st.cursor!);
    res.set(deviceId, at);
    st.cursor = at + intervalMs;
    return Math.max(1, at - mono);
  }

  /**
   * Hard limit where bytes leave: may a datagram of this size go on air now without breaking the
   * regulatory window (EU868 hourly duty cycle, US915 dwell)? MeteredTransport drops it otherwise; a
   * CoAP client retransmits, so nothing is lost but time.
   */
  mayTransmit(bearer: string, datagramBytes: number): boolean {
    const st = this.bearers.get(bearer);
    if (!st?.lora || st.model.kind !== 'lora') return true;
    const wire = datagramBytes + st.model.frameOverheadBytes;
    if (wire > 255) return false;
    const airtime = loraTimeOnAirMs(st.lora.radio, wire);
    return airtime <= st.lora.dwellMs && st.window!.waitMs(airtime, this.clock.monotonic()) === 0;
  }

  /** Accounts a datagram that is leaving on a bearer (MeteredTransport calls this for every send). */
  charge(bearer: string, datagramBytes: number): void {
    const st = this.bearers.get(bearer);
    if (!st) return;
    const mono = this.clock.monotonic();
    const m = st.model;
    const wire = datagramBytes + overheadOf(m);
    let airtime = 0;
    if (st.lora) {
      airtime = loraTimeOnAirMs(st.lora.radio, Math.min(255, wire));
      // The hourly window counts every frame (it is the regulation), and so does the pacing bucket:
      // check-in answers and ACKs take airtime the blocks then wait for. (Refusals of blocks are not
      // answered on a duty cycle, so they cannot drive the bucket into a debt spiral.)
      if (this.metered.has(bearer) && (st.admittedPending ?? 0) > 0) st.admittedPending! -= 1;
      st.airBucket!.force(airtime, mono);
      st.window!.force(airtime, mono);
    }
    st.link?.force(wire, mono);
    this.usage.add(bearer, wire, this.clock.now());
    st.stats.admittedBytes += datagramBytes;
    st.stats.admittedFrames++;
    st.stats.airtimeMs += airtime;
  }

  /** Share of the duty-cycle window in use now (0..1), for the schedule.budget event. */
  dutyCycleUsed(bearer: string): number {
    const st = this.bearers.get(bearer);
    if (!st?.window || !st.lora) return 0;
    return st.window.used(this.clock.monotonic()) / (st.lora.dutyCycle * st.lora.windowMs);
  }

  /** SIM bytes used today and the daily budget, if the bearer has one. */
  simToday(bearer: string): { used: number; budget: number } | undefined {
    const b = this.bearers.get(bearer)?.model.sim?.dailyBytes;
    return b === undefined ? undefined : { used: this.usage.used(bearer, 'day', this.clock.now()), budget: b };
  }

  queueLength(bearer: string): number {
    const st = this.bearers.get(bearer);
    let n = st?.calendar?.waiting ?? 0;
    for (const q of st?.queues.values() ?? []) n += q.queued;
    return n;
  }

  bearerNames(): string[] {
    return [...this.bearers.keys()];
  }

  /** Frees slots of devices that went quiet; the service calls this periodically. */
  sweep(): void {
    const mono = this.clock.monotonic();
    for (const st of this.bearers.values()) {
      for (const q of st.queues.values()) for (const id of q.sweep(mono)) this.queueOf.delete(id);
      st.calendar?.sweep(mono);
    }
  }

  flush(): void {
    this.usage.flush();
  }

  stop(): void {
    this.usage.flush();
    for (const st of this.bearers.values()) {
      for (const q of st.queues.values()) q.stop();
      st.calendar?.stop();
    }
    this.queueOf.clear();
  }
}
