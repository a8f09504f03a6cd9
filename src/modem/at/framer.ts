import { Transform, type TransformCallback } from 'node:stream';

/**
 * Layer 1 of the modem stack: turns the raw byte stream from the serial port into tokens.
 *
 * - `line`: one CR/LF-terminated line, trimmed, without empty lines. Modems send `\r\n<text>\r\n`, but
 *   after a reset or a glitch we also see bare `\r` or `\n`; any of them ends a line.
 * - `prompt`: the `>` the modem sends (without a line end) when it waits for data after AT+QISEND.
 * - `garbage`: bytes that cannot be an AT line (control characters, bytes above 0x7e). Counted, reported,
 *   and otherwise ignored, so line noise after a brown-out cannot wedge the parser.
 *
 * Why not @serialport/parser-readline: it splits on one delimiter only, so it can neither emit the `>`
 * prompt (which has no line end) nor take a length-counted binary payload that contains CR/LF.
 *
 * A payload rule lets the driver say "this header line is followed by N raw bytes" (BG96 direct push
 * `+QIURC: "recv",<id>,<len>,"<ip>",<port>\r\n<data>` and `+QIRD: <len>,"<ip>",<port>\r\n<data>`), so
 * payload bytes that happen to contain CR/LF are not mistaken for lines.
 */
export type Token =
  | { kind: 'line'; text: string; payload?: Buffer }
  | { kind: 'prompt' }
  | { kind: 'garbage'; bytes: number; sample: string };

/** Returns the number of raw bytes following this header line, or undefined for a plain line. */
export type PayloadRule = (line: string) => number | undefined;

const MAX_LINE = 4096;
/** A payload still incomplete this long after its header was a bogus header (line noise): give up on it. */
const PAYLOAD_STALE_MS = 2000;

export class AtFramer extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private pendingHeader: { text: string; need: number; skipLf: boolean; since: number } | undefined;
  private rule: PayloadRule | undefined;

  constructor() {
    super({ readableObjectMode: true });
  }

  setPayloadRule(rule: PayloadRule | undefined): void {
    this.rule = rule;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.drain();
    done();
  }

  override _flush(done: TransformCallback): void {
    this.buf = Buffer.alloc(0);
    this.pendingHeader = undefined;
    done();
  }

  private drain(): void {
    for (;;) {
      if (this.pendingHeader) {
        if (!this.takePayload()) return;
        continue;
      }
      // Skip line ends between lines.
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === 0x0d || this.buf[start] === 0x0a)) start++;
      if (start > 0) this.buf = this.buf.subarray(start);
      if (this.buf.length === 0) return;
      const end = this.findLineEnd();
      if (end < 0) {
        // The send prompt has no line end: "> " (BG96) or ">" (BC66). Line noise may sit right before
        // it; missing the prompt would leave the modem eating our next command as payload.
        const printable = this.buf.filter((b) => b >= 0x20 && b <= 0x7e);
        const rest = Buffer.from(printable).toString('latin1');
        if (rest === '>' || rest === '> ') {
          if (printable.length < this.buf.length) this.emitGarbage(this.buf, this.buf.length - printable.length);
          this.buf = Buffer.alloc(0);
          this.push({ kind: 'prompt' } satisfies Token);
        } else if (this.buf.length > MAX_LINE) {
          this.emitGarbage(this.buf);
          this.buf = Buffer.alloc(0);
        }
        return;
      }
      const raw = this.buf.subarray(0, end);
      const endedWithCr = this.buf[end] === 0x0d;
      this.buf = this.buf.subarray(end + 1);
      this.emitLine(raw, endedWithCr);
    }
  }

  private findLineEnd(): number {
    for (let i = 0; i < this.buf.length; i++) {
      const b = this.buf[i];
      if (b === 0x0d || b === 0x0a) return i;
    }
    return -1;
  }

  private emitLine(raw: Buffer, endedWithCr: boolean): void {
    // Split off bytes that cannot be in an AT line; keep the printable remainder (a glitch before a
    // real "OK" must not swallow the OK).
    let bad = 0;
    const keep: number[] = [];
    for (const b of raw) {
      if (b >= 0x20 && b <= 0x7e) keep.push(b);
      else bad++;
    }
    if (bad > 0) this.emitGarbage(raw, bad);
    let text = Buffer.from(keep).toString('latin1').trim();
    // A prompt directly followed by an echoed/late line: "> OK" style glitches are rare but seen.
    if (text.startsWith('> ') && text.length > 2) {
      this.push({ kind: 'prompt' } satisfies Token);
      text = text.slice(2).trim();
    }
    if (text.length === 0) return;
    if (text === '>') {
      this.push({ kind: 'prompt' } satisfies Token);
      return;
    }
    const need = this.rule?.(text);
    if (need !== undefined && need > 0) {
      // The header ends in CRLF; its LF may still be in the next chunk and is not payload.
      this.pendingHeader = { text, need, skipLf: endedWithCr, since: Date.now() };
      return;
    }
    this.push({ kind: 'line', text } satisfies Token);
  }

  private takePayload(): boolean {
    const h = this.pendingHeader!;
    if (h.skipLf && this.buf.length > 0) {
      if (this.buf[0] === 0x0a) this.buf = this.buf.subarray(1);
      h.skipLf = false;
    }
    if (h.skipLf || this.buf.length < h.need) {
      if (Date.now() - h.since > PAYLOAD_STALE_MS) {
        // Hand the header on without data (the driver then reads the socket with AT+QIRD) and parse
        // what followed as lines again.
        this.pendingHeader = undefined;
        this.push({ kind: 'garbage', bytes: 0, sample: 'stale payload header' } satisfies Token);
        this.push({ kind: 'line', text: h.text } satisfies Token);
        return true;
      }
      return false;
    }
    const payload = Buffer.from(this.buf.subarray(0, h.need));
    this.buf = this.buf.subarray(h.need);
    this.pendingHeader = undefined;
    this.push({ kind: 'line', text: h.text, payload } satisfies Token);
    return true;
  }

  private emitGarbage(raw: Buffer, bytes = raw.length): void {
    this.push({ kind: 'garbage', bytes, sample: raw.subarray(0, 16).toString('hex') } satisfies Token);
  }
}
