/**
 * The interop LwM2M clients as child processes (built by interop.ts), their output collected so tests can
 * wait for what the client itself says it did.
 * Anjay demo flags used: -e endpoint, -u coap://host:port, -l lifetime, -q binding (UQ = queue mode),
 * --fw-updated-marker-path (its Object 5 persistence; default /tmp is shared by parallel runs); on stdin
 * `set-fw-package-path PATH` fixes where the downloaded package is kept (default /tmp/anjay-fw-XXXXXX).
 * Wakaama lwm2mclient flags: -n endpoint, -h host, -p port, -4 (IPv4), -t lifetime, -l local port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { interopClient } from './interop.ts';

export class ClientProcess {
  output = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: () => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    const onData = (c: Buffer) => {
      this.output += c.toString('utf8');
      this.waiters = this.waiters.filter((w) => (w.re.test(this.output.slice(w.from)) ? (w.resolve(), false) : true));
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    this.exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  }

  /** Resolves when the client's output (from `from` on) matches. */
  waitFor(re: RegExp, timeoutMs = 30_000, from = 0): Promise<void> {
    if (re.test(this.output.slice(from))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`client output never matched ${re}; last output:\n${this.output.slice(-2500)}`)), timeoutMs);
      this.waiters.push({ re, from, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export async function startAnjay(opts: { endpoint: string; port: number; lifetime?: number; binding?: string; markerPath: string; extra?: string[] }): Promise<ClientProcess> {
  const bin = await interopClient('anjay');
  const args = ['-e', opts.endpoint, '-u', `coap://127.0.0.1:${opts.port}`, '-l', String(opts.lifetime ?? 60), '--fw-updated-marker-path', opts.markerPath, ...(opts.binding ? ['-q', opts.binding] : []), ...(opts.extra ?? [])];
  return new ClientProcess(spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
}

export async function startWakaama(opts: { endpoint: string; port: number; lifetime?: number; extra?: string[] }): Promise<ClientProcess> {
  const bin = await interopClient('wakaama');
  // -l 0: let the OS pick the local port, so parallel runs do not collide on 56830.
  const args = ['-n', opts.endpoint, '-h', '127.0.0.1', '-p', String(opts.port), '-4', '-t', String(opts.lifetime ?? 60), '-l', '0', ...(opts.extra ?? [])];
  return new ClientProcess(spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
}
