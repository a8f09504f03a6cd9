import dgram from 'node:dgram';
import type net from 'node:net';
import { handleCommand } from './dialect.ts';
import { FaultBook, toMatcher } from './faults.ts';
import { PtyLink } from './pty.ts';

export type EmulatedModel = 'bc66' | 'bg96';

export interface EmuSocket {
  id: number;
  service: 'UDP' | 'UDP SERVICE';
  udp: dgram.Socket;
  remote?: { address: string; port: number };
  push: boolean;
  queue: Array<{ data: Buffer; address: string; port: number }>;
}

export interface Signal {
  csq: number;
  rsrp: number;
  rsrq: number;
  sinr: number;
  cellId: string;
  tac: string;
  ceLevel: number;
}

export interface EmulatorOptions {
  model: EmulatedModel;
  /** Path of the pty symlink furrow opens as its serial port. */
  link: string;
  /** Milliseconds from power-on (or regained coverage) to CEREG stat 1. */
  registrationDelayMs?: number;
  /** Behave like old BG96 firmware that answers ERROR to AT+QICFG="dataformat". */
  noDataformat?: boolean;
  log?: (line: string) => void;
}

/**
 * A Quectel BC66 or BG96 behind a real pty. Speaks the AT dialect furrow uses (dialect.ts), bridges the
 * modem's UDP sockets to real UDP sockets on 127.0.0.1, and injects faults on request.
 */
export class ModemEmulator {
  readonly model: EmulatedModel;
  readonly pty: PtyLink;
  readonly faults = new FaultBook();
  readonly commands: string[] = [];
  readonly log: (line: string) => void;
  readonly noDataformat: boolean;
  conn: net.Socket | undefined;
  // Modem state (reset on power cycle).
  echo = true;
  cmee = 0;
  ceregMode = 0;
  regStat = 2;
  pdpActive = false;
  ip = '10.64.0.17';
  apn = '';
  recvHex = false;
  sendHex = false;
  viewmode = 0;
  showlength = false;
  settings = new Map<string, string>();
  sockets = new Map<number, EmuSocket>();
  openFailures: number[] = [];
  signal: Signal = { csq: 20, rsrp: -87, rsrq: -9, sinr: 12, cellId: '0A2B3C4', tac: '1A2B', ceLevel: 0 };
  private inbuf = '';
  private dataMode: { need: number; got: Buffer[]; have: number; done: (data: Buffer) => void } | undefined;
  private regTimer: NodeJS.Timeout | undefined;
  private readonly regDelay: number;

  constructor(opts: EmulatorOptions) {
    this.model = opts.model;
    this.pty = new PtyLink(opts.link);
    this.regDelay = opts.registrationDelayMs ?? 100;
    this.log = opts.log ?? (() => undefined);
    this.noDataformat = opts.noDataformat ?? false;
    this.pty.on('connection', (s) => this.attach(s));
    this.pty.on('disconnect', () => (this.conn = undefined));
  }

  get link(): string {
    return this.pty.link;
  }

  async start(): Promise<void> {
    this.powerOn();
    await this.pty.start();
  }

  async stop(): Promise<void> {
    if (this.regTimer) clearTimeout(this.regTimer);
    this.closeAllSockets();
    await this.pty.stop();
  }

  private attach(s: net.Socket): void {
    this.conn = s;
    this.inbuf = '';
    this.dataMode = undefined;
    s.on('data', (d) => this.onBytes(d));
  }

  private powerOn(): void {
    this.echo = true;
    this.cmee = 0;
    this.ceregMode = 0;
    this.pdpActive = false;
    this.regStat = 2;
    this.recvHex = false;
    this.sendHex = false;
    this.closeAllSockets();
    this.scheduleRegistration();
  }

  private scheduleRegistration(): void {
    if (this.regTimer) clearTimeout(this.regTimer);
    this.regTimer = setTimeout(() => {
      this.regStat = 1;
      this.urc('cereg', this.ceregUrc());
      if (this.model === 'bc66') {
        this.pdpActive = true;
        this.urc('ip', `+IP: ${this.ip}`);
      }
    }, this.regDelay);
  }

  ceregUrc(): string {
    if (this.ceregMode >= 2) return `+CEREG: ${this.regStat},"${this.signal.tac}","${this.signal.cellId}",${this.model === 'bc66' ? 9 : 8}`;
    return `+CEREG: ${this.regStat}`;
  }

  // ---- output -------------------------------------------------------------------------------------

  write(s: string | Buffer): void {
    this.conn?.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }

  /** A URC, unless a fault drops this kind. CEREG URCs only when enabled with AT+CEREG=n. */
  urc(kind: string, line: string, payload?: Buffer): void {
    if (kind === 'cereg' && this.ceregMode === 0) return;
    if (this.faults.shouldDrop(kind)) {
      this.log(`dropped URC ${line}`);
      return;
    }
    this.write(`\r\n${line}\r\n`);
    if (payload) this.write(Buffer.concat([payload, Buffer.from('\r\n')]));
  }

  respond(lines: string[], final = 'OK'): void {
    let out = '';
    for (const l of lines) out += `\r\n${l}\r\n`;
    if (final) out += `\r\n${final}\r\n`;
    this.write(out);
  }

  error(code: number): void {
    this.respond([], this.cmee > 0 ? `+CME ERROR: ${code}` : 'ERROR');
  }

  /** Wait for `n` raw bytes after a `>` prompt (AT+QISEND data mode). */
  expectData(n: number, done: (data: Buffer) => void): void {
    this.dataMode = { need: n, got: [], have: 0, done };
    this.write(this.model === 'bg96' ? '> ' : '>');
  }

  // ---- input ---------------------------------------------------------------------------------------

  private onBytes(d: Buffer): void {
    let rest: Buffer = d;
    while (rest.length > 0) {
      if (this.dataMode) {
        const m = this.dataMode;
        const take = Math.min(m.need - m.have, rest.length);
        m.got.push(rest.subarray(0, take));
        m.have += take;
        rest = rest.subarray(take);
        if (m.have === m.need) {
          this.dataMode = undefined;
          m.done(Buffer.concat(m.got));
        }
        continue;
      }
      const i = rest.findIndex((b) => b === 0x0d || b === 0x0a);
      if (i < 0) {
        this.inbuf += rest.toString('latin1');
        return;
      }
      const line = (this.inbuf + rest.subarray(0, i).toString('latin1')).trim();
      this.inbuf = '';
      rest = rest.subarray(i + 1);
      if (line.length > 0) this.onCommand(line);
    }
  }

  private onCommand(cmd: string): void {
    this.commands.push(cmd);
    if (this.echo) this.write(`${cmd}\r`);
    const fault = this.faults.take(cmd);
    if (fault) this.log(`fault ${fault.kind} on ${cmd}`);
    if (fault?.kind === 'cme') return this.error(fault.code);
    if (fault?.kind === 'garbage-before') this.injectGarbage();
    if (fault?.kind === 'swallow' || fault?.kind === 'delay') {
      // Capture what the modem would have said and hold it back (swallow: the final result never comes).
      const held: Array<string | Buffer> = [];
      const realWrite = this.write.bind(this);
      this.write = (s) => held.push(s);
      try {
        handleCommand(this, cmd);
      } finally {
        this.write = realWrite;
      }
      const text = held.map((h) => h.toString()).join('');
      if (fault.kind === 'swallow') {
        const body = text.replace(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n$/, '');
        if (body) realWrite(body);
        return;
      }
      setTimeout(() => realWrite(text), fault.ms);
      return;
    }
    handleCommand(this, cmd);
  }

  // ---- faults --------------------------------------------------------------------------------------

  failNext(pattern: string | RegExp, code: number, times = 1): void {
    this.faults.add({ kind: 'cme', match: toMatcher(pattern), code, times });
  }

  delayNext(pattern: string | RegExp, ms: number, times = 1): void {
    this.faults.add({ kind: 'delay', match: toMatcher(pattern), ms, times });
  }

  swallowNext(pattern: string | RegExp, times = 1): void {
    this.faults.add({ kind: 'swallow', match: toMatcher(pattern), times });
  }

  garbageBeforeNext(pattern: string | RegExp, times = 1): void {
    this.faults.add({ kind: 'garbage-before', match: toMatcher(pattern), times });
  }

  /** The next AT+QIOPEN answers OK, then `+QIOPEN: <id>,<code>` (e.g. 556 socket bind failed). */
  failOpen(code: number, times = 1): void {
    this.openFailures.push(...Array.from({ length: times }, () => code));
  }

  dropUrcs(kind: 'recv' | 'cereg' | 'closed' | 'pdpdeact' | 'ip', count = 1): void {
    this.faults.dropUrcs(kind, count);
  }

  /** Line noise: bytes no AT line contains, with a partial line mixed in. */
  injectGarbage(): void {
    this.log('injecting garbage bytes');
    this.write(Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x80, 0x0d, 0x0a, 0x4f, 0xc3, 0x28, 0x0d, 0x0a, 0x7f, 0x13]));
  }

  /** Coverage lost for `ms`: CEREG 2, PDP torn down (BG96: pdpdeact; BC66: sockets closed), then back. */
  loseRegistration(ms: number): void {
    this.log(`registration lost for ${ms} ms`);
    if (this.regTimer) clearTimeout(this.regTimer);
    this.regStat = 2;
    this.urc('cereg', this.ceregUrc());
    if (this.pdpActive) {
      this.pdpActive = false;
      if (this.model === 'bg96') this.urc('pdpdeact', '+QIURC: "pdpdeact",1');
      for (const s of this.sockets.values()) if (this.model === 'bc66') this.urc('closed', `+QIURC: "closed",${s.id}`);
      this.closeAllSockets();
    }
    this.regTimer = setTimeout(() => this.scheduleRegistration(), ms);
  }

  /** USB unplug for `ms`: the pty disappears; the modem reboots when it comes back (like a re-enumeration). */
  async vanish(ms: number): Promise<void> {
    this.log(`port vanishing for ${ms} ms`);
    await this.pty.unplug();
    this.conn = undefined;
    this.powerOn();
    await new Promise((r) => setTimeout(r, ms));
    await this.pty.plug();
    this.log('port back');
  }

  /** Modem reboot without losing the port: state reset, then RDY. */
  reboot(): void {
    this.log('rebooting');
    this.powerOn();
    this.urc('ready', 'RDY');
  }

  // ---- sockets ---------------------------------------------------------------------------------------

  closeSocket(id: number): void {
    const s = this.sockets.get(id);
    if (!s) return;
    this.sockets.delete(id);
    try {
      s.udp.close();
    } catch {
      /* already closed */
    }
  }

  closeAllSockets(): void {
    for (const id of [...this.sockets.keys()]) this.closeSocket(id);
  }

  /** The real UDP address a modem socket is bound to (what devices send to). */
  socketAddress(id: number): { address: string; port: number } | undefined {
    const s = this.sockets.get(id);
    return s ? (s.udp.address() as { address: string; port: number }) : undefined;
  }
}
