import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log.ts';
import { AtCommandError, AtTimeoutError, ModemError, PortClosedError } from '../errors.ts';
import { AtFramer, type PayloadRule, type Token } from './framer.ts';
import { looksLikeUrc, parseUrc, type Urc } from './urc.ts';

/**
 * Layer 2: the AT client. One command in flight, the rest queued in order; each command has its own
 * maximum response time (see timeouts.ts for the manual sections). Lines that are not part of the
 * answer are demultiplexed as URCs. After a timeout the client discards input for a short quiet
 * period, so a late OK cannot be taken as the answer to the next command.
 */
export interface AtRequest {
  command: string;
  timeoutMs: number;
  /** Prefix of the information line the answer must contain before OK counts (guards against stale OKs). */
  expect?: string;
  /** Final result lines other than OK that end the command successfully (e.g. `SEND OK`). */
  finals?: RegExp;
  /** Final result lines that end the command with failure (e.g. `SEND FAIL`). */
  failFinals?: RegExp;
  /** OK is not final (BC66 AT+QISEND answers OK, then SEND OK). */
  okIsIntermediate?: boolean;
  /** After OK, wait for this line too (AT+QIOPEN answers OK, then `+QIOPEN: <id>,<err>`). */
  awaitAfterOk?: { match: RegExp; timeoutMs: number };
  /** Bytes written after the `>` prompt (AT+QISEND in data mode). */
  promptPayload?: Buffer;
  /** How long the prompt may take (default 5 s); the full timeout starts once the payload is written. */
  promptTimeoutMs?: number;
  /** Resolve with ERROR/+CME ERROR instead of rejecting (for `furrow modem at`). */
  resolveErrors?: boolean;
}

export interface AtLine {
  text: string;
  payload?: Buffer;
}

export interface AtResponse {
  command: string;
  lines: AtLine[];
  final: string;
  /** The line matched by `awaitAfterOk`. */
  after?: string;
}

interface InFlight {
  req: AtRequest;
  resolve: (r: AtResponse) => void;
  reject: (e: Error) => void;
  lines: AtLine[];
  phase: 'answer' | 'after-ok';
  sawExpected: boolean;
  prompted: boolean;
  timer?: NodeJS.Timeout;
}

interface Queued {
  req: AtRequest;
  resolve: (r: AtResponse) => void;
  reject: (e: Error) => void;
}

export interface AtClientEvents {
  urc: [Urc];
  timeout: [string, number];
}

const PROMPT_TIMEOUT_MS = 5_000;

const isError = (t: string) => t === 'ERROR' || t.startsWith('+CME ERROR:') || t.startsWith('+CMS ERROR:');

export class AtClient extends EventEmitter<AtClientEvents> {
  private stream: Duplex | undefined;
  private framer: AtFramer | undefined;
  private rule: PayloadRule | undefined;
  private queue: Queued[] = [];
  private inflight: InFlight | undefined;
  private quietUntil = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private garbageBytes = 0;
  /** Timeouts in a row; the driver treats a run of them as a hung modem. */
  consecutiveTimeouts = 0;

  constructor(
    private readonly log: Logger,
    private readonly path: string,
    private readonly quietMs = 250,
    private readonly maxQueue = 64,
  ) {
    super();
  }

  get attached(): boolean {
    return this.stream !== undefined;
  }

  get garbageSeen(): number {
    return this.garbageBytes;
  }

  attach(stream: Duplex): void {
    this.detach();
    const framer = new AtFramer();
    framer.setPayloadRule(this.rule);
    framer.on('data', (t: Token) => this.onToken(t));
    stream.pipe(framer);
    this.stream = stream;
    this.framer = framer;
    this.pump();
  }

  /** Forget the stream (port closed): every waiting command fails with PortClosedError. */
  detach(): void {
    if (this.stream && this.framer) {
      this.stream.unpipe(this.framer);
      this.framer.removeAllListeners('data');
    }
    this.stream = undefined;
    this.framer = undefined;
    const waiting = [...(this.inflight ? [this.inflight] : []), ...this.queue];
    if (this.inflight?.timer) clearTimeout(this.inflight.timer);
    this.inflight = undefined;
    this.queue = [];
    for (const w of waiting) w.reject(new PortClosedError(this.path, w.req.command));
  }

  setPayloadRule(rule: PayloadRule | undefined): void {
    this.rule = rule;
    this.framer?.setPayloadRule(rule);
  }

  send(req: AtRequest): Promise<AtResponse> {
    if (!this.stream) return Promise.reject(new PortClosedError(this.path, req.command));
    // Backpressure: a slow modem (long SEND OK waits in poor coverage) must not collect an unbounded
    // backlog of CoAP replies that are stale by the time they would go out.
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new ModemError('MODEM_QUEUE_FULL', `${this.queue.length} AT commands already wait for the modem on ${this.path}; ${req.command.slice(0, 40)} refused`, {
        hint: 'the modem is slower than the traffic offered; CoAP retransmission retries later',
      }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.inflight || !this.stream || this.queue.length === 0) return;
    const wait = this.quietUntil - Date.now();
    if (wait > 0) {
      this.quietTimer ??= setTimeout(() => {
        this.quietTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const next = this.queue.shift()!;
    const f: InFlight = { ...next, lines: [], phase: 'answer', sawExpected: false, prompted: false };
    this.inflight = f;
    // The prompt is the modem's own reaction, not the network's: if it has not come within seconds it
    // never will, and the full send timeout (120 s) would stall every command behind this one.
    if (next.req.promptPayload) this.arm(f, Math.min(next.req.promptTimeoutMs ?? PROMPT_TIMEOUT_MS, next.req.timeoutMs), 'waiting for the > prompt');
    else this.arm(f, next.req.timeoutMs, 'waiting for the final result');
    this.log.trace({ cmd: next.req.command }, 'at >');
    this.stream.write(`${next.req.command}\r`);
  }

  private arm(f: InFlight, ms: number, phase: string): void {
    if (f.timer) clearTimeout(f.timer);
    f.timer = setTimeout(() => {
      if (this.inflight !== f) return;
      this.inflight = undefined;
      this.consecutiveTimeouts++;
      this.quietUntil = Date.now() + this.quietMs;
      this.log.warn({ cmd: f.req.command, timeoutMs: ms, phase, inARow: this.consecutiveTimeouts }, 'AT command timed out; discarding late answers for a moment');
      f.reject(new AtTimeoutError(f.req.command, ms, phase));
      this.emit('timeout', f.req.command, this.consecutiveTimeouts);
      this.pump();
    }, ms);
  }

  private finish(f: InFlight, final: string, after?: string): void {
    if (f.timer) clearTimeout(f.timer);
    this.inflight = undefined;
    this.consecutiveTimeouts = 0;
    this.log.trace({ cmd: f.req.command, final }, 'at <');
    f.resolve({ command: f.req.command, lines: f.lines, final, ...(after === undefined ? {} : { after }) });
    this.pump();
  }

  private fail(f: InFlight, final: string): void {
    if (f.req.resolveErrors) return this.finish(f, final);
    if (f.timer) clearTimeout(f.timer);
    this.inflight = undefined;
    this.consecutiveTimeouts = 0;
    const m = /^\+CME ERROR:\s*(\d+)/.exec(final);
    f.reject(new AtCommandError(f.req.command, final, m ? Number(m[1]) : undefined));
    this.pump();
  }

  private onToken(t: Token): void {
    if (t.kind === 'garbage') {
      this.garbageBytes += t.bytes;
      this.log.warn({ bytes: t.bytes, sample: t.sample }, 'ignored garbage bytes from the modem');
      return;
    }
    const f = this.inflight;
    if (t.kind === 'prompt') {
      if (f?.req.promptPayload && f.phase === 'answer' && !f.prompted) {
        f.prompted = true;
        this.stream?.write(f.req.promptPayload);
        this.arm(f, f.req.timeoutMs, 'waiting for the final result');
      } else this.log.debug('ignored a send prompt nobody asked for');
      return;
    }
    const text = t.text;
    if (!f) return this.unsolicited(text, t.payload);
    // Echo (ATE1, or the modem reset and forgot ATE0): the command comes back as a line.
    if (text === f.req.command) return;
    if (f.phase === 'after-ok') {
      if (f.req.awaitAfterOk!.match.test(text)) return this.finish(f, 'OK', text);
      if (isError(text)) return this.fail(f, text);
      return this.unsolicited(text, t.payload);
    }
    if (isError(text) || f.req.failFinals?.test(text)) return this.fail(f, text);
    if (f.req.finals?.test(text)) return this.finish(f, text);
    if (text === 'OK') {
      if (f.req.expect && !f.sawExpected) {
        this.log.warn({ cmd: f.req.command }, 'discarded an OK that came without the expected answer (late answer to an earlier command?)');
        return;
      }
      if (f.req.okIsIntermediate) return;
      if (f.req.awaitAfterOk) {
        f.phase = 'after-ok';
        this.arm(f, f.req.awaitAfterOk.timeoutMs, `waiting for ${f.req.awaitAfterOk.match.source}`);
        return;
      }
      return this.finish(f, 'OK');
    }
    if (f.req.expect && text.startsWith(f.req.expect)) {
      f.sawExpected = true;
      f.lines.push(t.payload ? { text, payload: t.payload } : { text });
      return;
    }
    if (looksLikeUrc(text)) return this.dispatch(text, t.payload);
    f.lines.push(t.payload ? { text, payload: t.payload } : { text });
  }

  private unsolicited(text: string, payload?: Buffer): void {
    if (text === 'OK' || isError(text) || text === 'SEND OK' || text === 'SEND FAIL') {
      this.log.warn({ line: text }, 'discarded a final result nobody waited for (late answer after a timeout)');
      return;
    }
    if (looksLikeUrc(text)) return this.dispatch(text, payload);
    this.log.debug({ line: text }, 'ignored an unsolicited line');
  }

  private dispatch(text: string, payload?: Buffer): void {
    const urc = parseUrc(text, payload);
    try {
      this.emit('urc', urc);
    } catch (err) {
      this.log.error({ err, urc: text }, 'URC handler failed');
    }
  }
}
