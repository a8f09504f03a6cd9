import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';

/**
 * A real pseudo-terminal for the emulated modem: socat creates the pty (the "serial port" furrow opens,
 * reachable at `link`) and bridges it to a TCP connection into the emulator. Killing socat makes the
 * pty vanish exactly like a USB modem being unplugged; starting it again brings the port back.
 */
export class PtyLink extends EventEmitter<{ connection: [net.Socket]; disconnect: [] }> {
  private server: net.Server | undefined;
  private socat: ChildProcess | undefined;
  private tcpPort = 0;
  private stopped = false;

  constructor(readonly link: string) {
    super();
  }

  static requireSocat(): void {
    const r = spawnSync('sh', ['-c', 'command -v socat']);
    if (r.status !== 0) throw new Error('socat not found: the modem emulator needs it for a real pty; install with: apt-get install -y socat');
  }

  async start(): Promise<void> {
    PtyLink.requireSocat();
    this.server = net.createServer((s) => {
      s.setNoDelay(true);
      s.on('close', () => this.emit('disconnect'));
      s.on('error', () => undefined);
      this.emit('connection', s);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.tcpPort = (this.server.address() as net.AddressInfo).port;
    await this.spawnSocat();
  }

  private async spawnSocat(): Promise<void> {
    const connected = new Promise<void>((r) => this.once('connection', () => r()));
    const p = spawn('socat', [`pty,raw,echo=0,link=${this.link}`, `tcp:127.0.0.1:${this.tcpPort}`], { stdio: 'ignore' });
    this.socat = p;
    await connected;
    for (let i = 0; i < 200 && !existsSync(this.link); i++) await new Promise((r) => setTimeout(r, 10));
    if (!existsSync(this.link)) throw new Error(`socat did not create ${this.link}`);
  }

  get present(): boolean {
    return this.socat !== undefined;
  }

  /** Unplug: the pty disappears. */
  async unplug(): Promise<void> {
    const p = this.socat;
    this.socat = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await exited;
  }

  /** Plug back in: a new pty at the same link path. */
  async plug(): Promise<void> {
    if (this.stopped || this.socat) return;
    await this.spawnSocat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.unplug();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
