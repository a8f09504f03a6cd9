import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const FURROW_BIN = resolve(REPO_ROOT, 'bin/furrow.js');

export interface LogLine {
  level: number;
  msg: string;
  module?: string;
  [k: string]: unknown;
}

/** A free UDP port on loopback (bound then released: good enough for tests on one machine). */
export async function freeUdpPort(): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}

export async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** The real daemon as a child process, its JSON log lines collected for assertions. */
export class DaemonProcess {
  readonly lines: LogLine[] = [];
  /** Every stdout line as written (with its `<N>` syslog prefix when the daemon logs for journald). */
  readonly raw: string[] = [];
  readonly stderr: string[] = [];
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.raw.push(text);
        let line: LogLine;
        try {
          line = JSON.parse(text.replace(/^<[0-7]>/, '')) as LogLine;
        } catch {
          continue;
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve(line), false) : true));
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (c: string) => this.stderr.push(c));
    this.exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  }

  static start(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): DaemonProcess {
    const proc = spawn(process.execPath, [FURROW_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new DaemonProcess(proc);
  }

  /** Watches a daemon spawned some other way (another entry point, a packed release). */
  static attach(proc: ChildProcess): DaemonProcess {
    return new DaemonProcess(proc);
  }

  /** Resolves with the first log line (past or future) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for a log line; last lines:\n${this.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${this.stderr.join('')}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolveLine(l);
        },
      });
    });
  }

  waitForMsg(msg: string | RegExp, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)), timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  /** SIGTERM and wait; SIGKILL if it does not stop in time. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/** Runs the CLI to completion. */
export function runFurrow(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const proc = spawn(process.execPath, [FURROW_BIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.stdin.end(opts.input ?? '');
    proc.on('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}
