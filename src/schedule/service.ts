import type { Config } from '../config/index.ts';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';
import { Scheduler } from './scheduler.ts';

const SWEEP_MS = 5000;

/** Owns the Scheduler's lifetime: idle-slot sweeps, usage flushes, and releasing slots when transfers end. */
export class ScheduleService implements Service {
  readonly name = 'schedule';
  readonly scheduler: Scheduler;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.log.child({ module: 'schedule' });
    this.scheduler = new Scheduler(ctx.config.schedule, ctx.clock, ctx.db);
  }

  async start(): Promise<void> {
    const ev = this.ctx.events;
    this.unsubscribe.push(
      ev.on('transfer.completed', 'schedule', (e) => this.scheduler.releaseTransfer(e.deviceId)),
      ev.on('transfer.failed', 'schedule', (e) => this.scheduler.releaseTransfer(e.deviceId)),
    );
    this.timer = setInterval(() => {
      this.scheduler.sweep();
      this.scheduler.flush();
      for (const bearer of this.scheduler.bearerNames()) {
        const sim = this.scheduler.simToday(bearer);
        this.ctx.events.emit('schedule.budget', {
          bearer,
          dutyCycleUsed: this.scheduler.dutyCycleUsed(bearer),
          queueLength: this.scheduler.queueLength(bearer),
          ...(sim ? { bytesUsed: sim.used, bytesBudget: sim.budget } : {}),
        });
      }
    }, SWEEP_MS);
    this.timer.unref();
    this.log.info({ bearers: Object.keys(this.ctx.config.schedule.bearers) }, 'scheduler ready');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const u of this.unsubscribe.splice(0)) u();
    this.scheduler.stop();
  }

  reload(config: Config): void {
    this.scheduler.reconfigure(config.schedule);
  }
}
