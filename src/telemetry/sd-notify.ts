import { spawn } from 'node:child_process';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';

/**
 * systemd readiness and watchdog (Type=notify, WatchdogSec=). Node cannot send on the AF_UNIX datagram
 * socket in $NOTIFY_SOCKET (node:dgram has no unix sockets), so this runs `systemd-notify`, which waits
 * for systemd to take the message (a barrier) before exiting, so the message is attributed to the unit
 * even though it comes from a child process (the unit needs NotifyAccess=all). The watchdog is only fed
 * when the event loop turns and the DB answers, so a wedged daemon gets restarted.
 */
export class SystemdNotifier implements Service {
  readonly name = 'systemd-notify';
  private timer: NodeJS.Timeout | undefined;
  private off: (() => void) | undefined;
  private warned = false;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async start(): Promise<void> {
    if (!this.env.NOTIFY_SOCKET) return;
    this.off = this.ctx.events.on('daemon.ready', 'telemetry', ({ services }) => {
      this.send(['--ready', `--status=furrow running: ${services.length} services`]);
    });
    const usec = Number(this.env.WATCHDOG_USEC);
    const pid = this.env.WATCHDOG_PID ? Number(this.env.WATCHDOG_PID) : process.pid;
    if (Number.isFinite(usec) && usec > 0 && pid === process.pid) {
      // Half the timeout, as sd_watchdog_enabled(3) recommends.
      const every = Math.max(500, Math.floor(usec / 2000));
      this.timer = setInterval(() => this.feed(), every);
      this.timer.unref();
      this.log.info({ everyMs: every }, 'systemd watchdog enabled');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.off?.();
    if (this.env.NOTIFY_SOCKET) this.send(['--no-block', 'STOPPING=1']);
  }

  private feed(): void {
    try {
      this.ctx.db.prepare('SELECT 1').get();
    } catch (err) {
      this.log.error({ error: (err as Error).message }, 'database not answering: not feeding the systemd watchdog');
      return;
    }
    this.send(['WATCHDOG=1']);
  }

  private send(args: string[]): void {
    const child = spawn('systemd-notify', args, { stdio: 'ignore', env: this.env });
    child.on('error', (err) => {
      if (this.warned) return;
      this.warned = true;
      this.log.warn({ error: err.message }, 'cannot run systemd-notify (package systemd): readiness and watchdog messages are not sent');
    });
    child.unref();
  }
}
