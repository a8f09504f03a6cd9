import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { SerialPort } from 'serialport';
import { loadSerialPort } from '../heavy-deps.ts';
import type { Logger } from '../log.ts';

/**
 * The serial port and its life: open, notice it vanish (USB unplug, modem reset re-enumerating), and
 * reopen with exponential backoff for as long as the service runs. Never throws into the daemon.
 */
export interface PortOptions {
  path: string;
  baudRate: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface ModemPortEvents {
  open: [Duplex];
  lost: [string];
}

export function backoffMs(attempt: number, min: number, max: number): number {
  const base = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  // ±20 % jitter so a fleet of gateways on one power circuit does not retry in lockstep.
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export function describeOpenError(path: string, err: Error): string {
  const m = err.message;
  if (/lock/i.test(m) || /busy/i.test(m)) return `serial port ${path} is busy: another program (the furrow daemon, ModemManager, a terminal) holds it`;
  if (/No such file/i.test(m)) return `serial port ${path} does not exist (modem unplugged or not enumerated yet)`;
  if (/Permission denied/i.test(m)) return `no permission to open ${path}: add the furrow user to the dialout group`;
  return `cannot open ${path}: ${m}`;
}

export class ModemPort extends EventEmitter<ModemPortEvents> {
  private port: SerialPort | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private running = false;
  private lastError = '';
  private watchdog: NodeJS.Timeout | undefined;
  private openedNode: string | undefined;

  constructor(
    private readonly opts: PortOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  start(): void {
    this.running = true;
    this.tryOpen();
    // The driver's read error is the usual unplug signal, but it does not always come (a pty whose
    // master went away can stay silent); a vanished device node settles it.
    this.watchdog = setInterval(() => {
      const p = this.port;
      if (!p?.isOpen) return;
      const now = this.nodeId();
      // Gone, or replaced by a new node (unplugged and replugged between two checks): the fd we hold
      // points at the old device and will never answer again.
      if (now !== this.openedNode) {
        this.log.warn({ path: this.opts.path, replaced: now !== undefined }, now === undefined ? 'serial device node disappeared; closing the port' : 'serial device node was replaced (replugged); reopening');
        p.close();
      }
    }, 500);
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.port;
    this.port = undefined;
    if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
  }

  /** Close and reopen (used when the modem stops answering but the port still looks open). */
  recycle(reason: string): void {
    const p = this.port;
    if (!p?.isOpen) return;
    this.log.warn({ path: this.opts.path, reason }, 'closing the serial port to recover the modem');
    p.close();
  }

  private tryOpen(): void {
    if (!this.running) return;
    this.timer = undefined;
    void loadSerialPort().then(
      (SerialPortClass) => this.openWith(SerialPortClass),
      (err: Error) => this.retry(`cannot load the serialport module: ${err.message}`),
    );
  }

  private openWith(SerialPortClass: typeof SerialPort): void {
    if (!this.running) return;
    const p = new SerialPortClass({ path: this.opts.path, baudRate: this.opts.baudRate, autoOpen: false });
    p.on('error', (err) => this.log.debug({ path: this.opts.path, err: err.message }, 'serial port error'));
    p.open((err) => {
      if (!this.running) {
        if (!err) p.close();
        return;
      }
      if (err) return this.retry(describeOpenError(this.opts.path, err));
      this.attempt = 0;
      this.lastError = '';
      this.port = p;
      this.openedNode = this.nodeId();
      this.log.info({ path: this.opts.path, baudRate: this.opts.baudRate }, 'serial port open');
      p.once('close', (closeErr?: Error & { disconnected?: boolean }) => {
        if (this.port === p) this.port = undefined;
        if (!this.running) return;
        const why = closeErr?.disconnected ? 'disconnected (unplugged?)' : 'closed';
        this.emit('lost', why);
        this.retry(`serial port ${this.opts.path} ${why}`);
      });
      this.emit('open', p);
    });
  }

  /** Inode and device number of what the path resolves to now (symlinks followed). */
  private nodeId(): string | undefined {
    try {
      const st = statSync(this.opts.path);
      return `${st.dev}:${st.ino}:${st.rdev}`;
    } catch {
      return undefined;
    }
  }

  private retry(reason: string): void {
    if (!this.running) return;
    this.attempt++;
    const delay = backoffMs(this.attempt, this.opts.minBackoffMs, this.opts.maxBackoffMs);
    // Say it loudly once per distinct problem, then quietly while it persists.
    const level = reason === this.lastError ? 'debug' : 'warn';
    this.lastError = reason;
    this.log[level]({ path: this.opts.path, attempt: this.attempt, retryInMs: delay }, `${reason}; reopening with backoff`);
    this.timer = setTimeout(() => this.tryOpen(), delay);
  }
}
