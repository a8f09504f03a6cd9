import dgram from 'node:dgram';
import { encodeEnvelope } from '../coap/auth.ts';
import { decodeBlock, encodeBlock } from '../coap/block.ts';
import { ContentFormat, GET, Opt, POST } from '../coap/codes.ts';
import { decodeMessage, encodeMessage, encodeUint, option, type CoapMessage, type CoapOption } from '../coap/message.ts';
import { decodeCbor, uint } from '../manifest/cbor.ts';
import { loraTimeOnAirMs } from '../schedule/lora-airtime.ts';
import type { EventLoop } from './virtual-time.ts';
import type { Behaviour, LinkModel, RadioMonitor } from './link.ts';

const ACK_TIMEOUT_MS = 3000;
const MAX_RETRANSMIT = 4;
/** Unanswered block requests (each after all retransmissions) a paced transfer tolerates before checking in again. */
const PACED_RETRIES = 5;
const code = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, '0')}`;

export interface DeviceStats {
  /** Manifest payload received (its size, for lower bounds). */
  manifestBytes: number;
  downBytes: number;
  retransmittedBytes: number;
  patchBytes: number;
  powerCuts: number;
  refusals: number;
  updatedAt?: number | undefined;
  result?: 'booted' | 'failed' | undefined;
}

/**
 * One simulated device speaking src/coap/PROTOCOL.md v1 over a real UDP socket: check-in with the
 * MAC envelope, manifest and patch by Block2 from its own offset, reports, power cuts that resume from
 * the staged offset. Time is virtual; the radio is the link model.
 */
export class SimDevice {
  readonly stats: DeviceStats = { manifestBytes: 0, downBytes: 0, retransmittedBytes: 0, patchBytes: 0, powerCuts: 0, refusals: 0 };
  private sock: dgram.Socket | undefined;
  private mid = 0;
  private counter = 1;
  private waiting: ((m: CoapMessage | undefined, size: number) => void) | undefined;
  private uplinkFreeAt = 0;
  running: string;
  private transfer: { patchId: Buffer; path: string; size: number; offset: number; szx: number } | undefined;
  /** Block cadence from the check-in answer (key 9), ms; 0 = as fast as the link allows. */
  private blockIntervalMs = 0;
  private lastBlockAt = -Infinity;
  stopped = false;

  constructor(
    readonly id: string,
    private readonly key: Buffer,
    private readonly o: {
      loop: EventLoop;
      port: number;
      product: string;
      runningSha256: string;
      targetSha256: string;
      link: LinkModel;
      behaviour: Behaviour;
      monitor: RadioMonitor;
      random: () => number;
      /** Gives the waiter the time the device acted (for the timeline). */
      onUpdated?: (d: SimDevice) => void;
    },
  ) {
    this.running = o.runningSha256;
    this.mid = Math.floor(o.random() * 0xffff);
  }

  async open(): Promise<void> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.on('message', (buf) => {
      let m: CoapMessage;
      try {
        m = decodeMessage(buf);
      } catch {
        return;
      }
      const w = this.waiting;
      if (w && m.messageId === (this.mid & 0xffff)) {
        this.waiting = undefined;
        w(m, buf.length);
      }
    });
    this.sock = s;
  }

  close(): void {
    this.stopped = true;
    this.sock?.close();
    this.sock = undefined;
  }

  /**
   * The gateway decided not to answer the request in flight (a refusal on a duty cycle): on air the
   * device would hear nothing and time out. Told in process so the simulation need not wait in real time.
   */
  unanswered(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(undefined, 0);
  }

  /** The device's life: wake, check in, download, apply, report, sleep; until stopped. */
  async live(): Promise<void> {
    const b = this.o.behaviour;
    await this.o.loop.sleep(this.o.random() * b.firstWakeMs);
    while (!this.stopped) {
      const next = await this.session();
      if (this.stopped) return;
      await this.o.loop.sleep(next);
    }
  }

  /** One wake: returns how long to sleep afterwards. */
  private async session(): Promise<number> {
    const b = this.o.behaviour;
    const body = new Map<number, unknown>([
      [1, this.o.product],
      [2, Buffer.from(this.running, 'hex')],
      [3, uint(0)],
      [5, this.o.link.kind === 'nbiot' ? this.o.link.rsrp : -100],
      [10, uint(2)], // decodes furrow patch format 2, as the C firmware does
    ]);
    if (this.transfer) body.set(8, [this.transfer.patchId, uint(this.transfer.offset)]);
    const res = await this.request(POST, ['c'], encodeEnvelope(this.key, 'c', this.id, this.counter++, body));
    if (!res || code(res.code) !== '2.05') return b.checkinIntervalMs;
    const m = decodeCbor(res.payload) as Map<number, unknown>;
    const decision = Number(m.get(1));
    if (decision === 1) return Number(m.get(2)) * 1000;
    // Decision 0 may name the next check-in (key 2): on a duty cycle the gateway keeps idle devices quiet.
    if (decision !== 2) return m.has(2) ? Number(m.get(2)) * 1000 : b.checkinIntervalMs;
    this.blockIntervalMs = m.has(9) ? Number(m.get(9)) : 0;
    const patchId = Buffer.from(m.get(8) as Uint8Array);
    if (!this.transfer || !this.transfer.patchId.equals(patchId)) {
      this.transfer = { patchId, path: String(m.get(4)), size: Number(m.get(5)), offset: 0, szx: Number(m.get(7)) };
      if (!(await this.fetchAll(String(m.get(3)), Number(m.get(7)), false))) return b.checkinIntervalMs;
    } else this.transfer.path = String(m.get(4));
    const t = this.transfer;
    const ok = await this.fetchAll(t.path, t.szx, true);
    if (!ok) return this.transfer ? 1000 : b.checkinIntervalMs; // power cut or lost link: come back soon
    await this.report(new Map<number, unknown>([[1, 'applied'], [4, t.patchId], [5, uint(t.size)]]));
    await this.o.loop.sleep(b.rebootMs);
    this.transfer = undefined;
    let next: number | undefined;
    if (this.o.random() < b.selfTestFailRate) {
      this.stats.result = 'failed';
      next = await this.report(new Map<number, unknown>([[1, 'failed'], [2, 'self-test failed: sensor bus timeout'], [4, t.patchId]]));
    } else {
      this.running = this.o.targetSha256;
      this.stats.result = 'booted';
      this.stats.updatedAt = this.o.loop.clock.t;
      next = await this.report(new Map<number, unknown>([[1, 'booted'], [3, Buffer.from(this.running, 'hex')], [4, t.patchId]]));
    }
    this.o.onUpdated?.(this);
    // The report answer may name the next check-in (duty-cycled bearers); v1 devices ignore it.
    return next ?? b.checkinIntervalMs;
  }

  /** Sends a report; returns the next check-in time the answer names (key 2, ms), if any. */
  private async report(body: Map<number, unknown>): Promise<number | undefined> {
    const res = await this.request(POST, ['r'], encodeEnvelope(this.key, 'r', this.id, this.counter++, body));
    if (!res || code(res.code) !== '2.04' || res.payload.length === 0) return undefined;
    try {
      const m = decodeCbor(res.payload) as Map<number, unknown>;
      return m instanceof Map && m.has(2) ? Number(m.get(2)) * 1000 : undefined;
    } catch {
      return undefined; // an answer the device cannot read changes nothing (PROTOCOL.md: payload optional)
    }
  }

  /** Block2 download of `path` from the stored offset (patch) or from 0 (manifest). False on power cut/loss. */
  private async fetchAll(path: string, szx: number, isPatch: boolean): Promise<boolean> {
    const size = 1 << (szx + 4);
    let num = isPatch ? Math.floor(this.transfer!.offset / size) : 0;
    let unanswered = 0;
    for (;;) {
      if (isPatch && this.o.random() < this.o.behaviour.powerCutRate) {
        this.stats.powerCuts++;
        const [a, b] = this.o.behaviour.powerOffMs;
        await this.o.loop.sleep(a + this.o.random() * (b - a));
        return false;
      }
      // Key 9: leave the gateway's block interval between requests (asking earlier only gets dropped).
      const due = this.lastBlockAt + this.blockIntervalMs;
      if (due > this.o.loop.clock.t) await this.o.loop.sleep(due - this.o.loop.clock.t);
      this.lastBlockAt = this.o.loop.clock.t;
      const res = await this.request(GET, path.split('/'), undefined, encodeBlock({ num, more: false, szx }));
      if (!res) {
        // PROTOCOL.md key 9: on a paced transfer the gateway leaves a block it cannot send yet
        // unanswered; after the retransmissions ask for the same block again rather than check in anew
        // (a check-in answer is airtime too). A device that hears nothing for long gives up as before.
        if (this.blockIntervalMs > 0 && ++unanswered < PACED_RETRIES && !this.stopped) continue;
        return false;
      }
      unanswered = 0;
      const c = code(res.code);
      if (c === '5.03') {
        this.stats.refusals++;
        const maxAge = option(res, Opt.MaxAge);
        await this.o.loop.sleep((maxAge ? decodeUintBuf(maxAge) : 60) * 1000);
        continue;
      }
      if (c !== '2.05') return false;
      const blk = decodeBlock(option(res, Opt.Block2) ?? Buffer.alloc(0));
      if (!isPatch) this.stats.manifestBytes = Math.max(this.stats.manifestBytes, num * size + res.payload.length);
      if (isPatch) {
        const t = this.transfer!;
        const start = num * size;
        const fresh = Math.max(0, start + res.payload.length - t.offset);
        this.stats.patchBytes += fresh;
        t.offset = Math.max(t.offset, start + res.payload.length);
      }
      if (!blk?.more) return true;
      num++;
    }
  }

  /** One CON exchange with CoAP retransmission; the link model decides losses and (virtual) delays. */
  private async request(method: number, path: string[], payload?: Buffer, block2?: Buffer): Promise<CoapMessage | undefined> {
    this.mid = (this.mid + 1) & 0xffff;
    const opts: CoapOption[] = path.filter((p) => p.length > 0).map((p) => ({ number: Opt.UriPath as number, value: Buffer.from(p) }));
    if (payload) opts.push({ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) });
    if (block2) opts.push({ number: Opt.Block2, value: block2 });
    const msg = encodeMessage({ type: 'CON', code: method, messageId: this.mid, token: Buffer.from([this.mid & 0xff, this.mid >> 8]), options: opts, payload: payload ?? Buffer.alloc(0) });
    const link = this.o.link;
    for (let attempt = 0; attempt <= MAX_RETRANSMIT && !this.stopped; attempt++) {
      const timeout = ACK_TIMEOUT_MS * 2 ** attempt;
      if (link.kind === 'lora') {
        // The device keeps its own 1 % uplink duty cycle.
        const now = this.o.loop.clock.t;
        if (this.uplinkFreeAt > now) await this.o.loop.sleep(this.uplinkFreeAt - now);
        const up = loraTimeOnAirMs(link.uplink, Math.min(255, msg.length + link.frameOverheadBytes));
        this.uplinkFreeAt = this.o.loop.clock.t + up / link.uplinkDutyCycle;
      }
      if (this.o.random() < link.loss) {
        await this.o.loop.sleep(timeout);
        continue;
      }
      // The request reaches the gateway after its uplink (LoRa: time on air + RX1 delay; NB-IoT: half the RTT).
      const upDelay = this.uplinkDelay(msg.length);
      if (upDelay > 0) await this.o.loop.sleep(upDelay);
      const reply = await this.o.loop.io(() => this.exchange(msg));
      if (!reply) {
        await this.o.loop.sleep(timeout);
        continue;
      }
      this.o.monitor.record(this.o.loop.clock.t, reply.size, replyKind(path[0] ?? '', reply.msg));
      this.stats.downBytes += reply.size;
      if (attempt > 0) this.stats.retransmittedBytes += reply.size;
      if (this.o.random() < link.loss) {
        // Sent but lost on the way down: it cost airtime; the retransmission's reply is counted as resent.
        await this.o.loop.sleep(timeout);
        continue;
      }
      await this.o.loop.sleep(this.downlinkDelay(reply.size));
      return reply.msg;
    }
    return undefined;
  }

  private uplinkDelay(up: number): number {
    const l = this.o.link;
    if (l.kind === 'nbiot') {
      this.pendingRtt = l.rttMs[0] + this.o.random() * (l.rttMs[1] - l.rttMs[0]);
      return this.pendingRtt / 2;
    }
    return loraTimeOnAirMs(l.uplink, Math.min(255, up + l.frameOverheadBytes)) + l.rx1DelayMs;
  }

  private pendingRtt = 0;

  private downlinkDelay(down: number): number {
    const l = this.o.link;
    if (l.kind === 'nbiot') return this.pendingRtt / 2 + (down / l.bytesPerSecond) * 1000;
    return loraTimeOnAirMs(l.downlink, Math.min(255, down + l.frameOverheadBytes));
  }

  private exchange(msg: Buffer): Promise<{ msg: CoapMessage; size: number } | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, 250);
      this.waiting = (m, size) => {
        clearTimeout(timer);
        resolve(m ? { msg: m, size } : undefined);
      };
      this.sock!.send(msg, this.o.port, '127.0.0.1');
    });
  }
}

/** `2.05 /p`, `2.05 /c later`, `5.03 /p`, ...: what a downlink was, for the airtime breakdown. */
function replyKind(resource: string, m: CoapMessage): string {
  const k = `${code(m.code)} /${resource}`;
  if (resource !== 'c' || code(m.code) !== '2.05') return k;
  try {
    const d = Number((decodeCbor(m.payload) as Map<number, unknown>).get(1));
    return `${k} ${d === 2 ? 'update' : d === 1 ? 'later' : 'nothing'}`;
  } catch {
    return k;
  }
}

function decodeUintBuf(b: Buffer): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}
