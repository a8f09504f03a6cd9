import type { Config } from '../config/index.ts';
import type { DaemonContext } from '../context.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';
import { AtClient } from './at/client.ts';
import type { ModemConfig } from './config.ts';
import { QuectelDriver } from './driver.ts';
import { HealthMonitor, type ModemHealth } from './health.ts';
import { ModemPort } from './port.ts';
import { saveStatus } from './status-store.ts';

/** Timeouts in a row after which the port is closed and reopened (the modem is hung or rebooting). */
const HUNG_AFTER_TIMEOUTS = 3;

/**
 * The modem as a daemon service: serial port (reconnects by itself) → AT client → driver → health.
 * The bearer (src/bearer/modem.ts) rides on `driver`. Nothing here throws into the daemon after start():
 * a missing or dead modem is logged and retried.
 */
export class ModemService implements Service {
  readonly name = 'modem';
  readonly driver: QuectelDriver;
  readonly health: HealthMonitor;
  private readonly port: ModemPort;
  private readonly client: AtClient;
  private readonly log: Logger;
  private unsubscribe: Array<() => void> = [];
  private healthIntervalS: number;

  constructor(
    private readonly ctx: Pick<DaemonContext, 'log' | 'events' | 'clock'> & { db?: DaemonContext['db'] },
    private readonly cfg: ModemConfig,
  ) {
    this.log = ctx.log.child({ module: 'modem' });
    this.client = new AtClient(this.log.child({ layer: 'at' }), cfg.port);
    this.port = new ModemPort({ path: cfg.port, baudRate: cfg.baudRate, minBackoffMs: cfg.reconnect.minMs, maxBackoffMs: cfg.reconnect.maxMs }, this.log);
    this.driver = new QuectelDriver(cfg, this.client, this.log);
    this.health = new HealthMonitor(this.driver, ctx.events, this.log, () => ctx.clock.now());
    this.healthIntervalS = cfg.healthIntervalSeconds;
  }

  async start(): Promise<void> {
    const onOpen = (stream: Parameters<AtClient['attach']>[0]) => {
      this.client.attach(stream);
      this.driver.portOpened();
    };
    const onLost = (why: string) => {
      this.client.detach();
      this.driver.portLost(why);
      this.log.warn({ path: this.cfg.port, why }, 'modem serial port lost; the bearer refuses datagrams until it is back');
    };
    const onTimeout = (command: string, inARow: number) => {
      if (inARow >= HUNG_AFTER_TIMEOUTS) this.port.recycle(`${inARow} AT timeouts in a row (last: ${command})`);
    };
    const onState = (state: string, reason: string) => {
      this.log.info({ state, reason }, 'modem state');
      // Telemetry and the scheduler hear about a lost registration now, not at the next poll.
      this.health.emitCurrent();
    };
    this.port.on('open', onOpen);
    this.port.on('lost', onLost);
    this.client.on('timeout', onTimeout);
    this.driver.on('state', onState);
    const stopHealth = this.ctx.events.on('modem.health', 'modem', () => this.persist());
    this.unsubscribe = [
      () => this.port.off('open', onOpen),
      () => this.port.off('lost', onLost),
      () => this.client.off('timeout', onTimeout),
      () => this.driver.off('state', onState),
      stopHealth,
    ];
    this.driver.start();
    this.port.start();
    this.health.start(this.healthIntervalS * 1000);
  }

  async stop(): Promise<void> {
    this.health.stop();
    // Stop the supervisor first, then fail the command in flight: a bring-up step may be waiting up
    // to 150 s (AT+QIACT, +QIOPEN) and stop must not wait for it.
    const driverStopped = this.driver.stop();
    this.client.detach();
    await driverStopped;
    await this.port.stop();
    for (const u of this.unsubscribe.splice(0)) u();
    this.persist();
  }

  /**
   * Port, model and radio settings are applied at bring-up, so changing them needs a restart; this says
   * so instead of refusing the whole reload. The health interval applies at once.
   */
  reload(config: Config): void {
    const next = config.modem;
    if (!next) {
      this.log.warn('modem section removed from the config: takes effect after a restart');
      return;
    }
    const { healthIntervalSeconds, ...rest } = next;
    const { healthIntervalSeconds: _started, ...oldRest } = this.cfg;
    if (JSON.stringify(rest) !== JSON.stringify(oldRest)) this.log.warn('modem settings changed: they take effect after a restart');
    if (healthIntervalSeconds !== this.healthIntervalS) {
      this.healthIntervalS = healthIntervalSeconds;
      this.health.stop();
      this.health.start(healthIntervalSeconds * 1000);
      this.log.info({ healthIntervalSeconds }, 'modem health interval changed');
    }
  }

  /** For the scheduler (per-cell caps) and status/metrics. */
  current(): ModemHealth {
    return this.health.current();
  }

  private persist(): void {
    if (!this.ctx.db?.open) return;
    try {
      saveStatus(this.ctx.db, this.cfg.port, this.ctx.clock.now(), this.health.current());
    } catch (err) {
      this.log.warn({ error: errorMessage(err) }, 'could not save the modem status snapshot');
    }
  }
}
