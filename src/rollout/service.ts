import { NewestReleasePolicy } from '../coap/default-policy.ts';
import type { Config } from '../config/index.ts';
import type { DaemonContext } from '../context.ts';
import type { Logger } from '../log.ts';
import type { PatchProvider } from '../policy.ts';
import type { Service } from '../service.ts';
import { DeviceRepo } from '../store/devices.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { RolloutRepo } from '../store/rollouts.ts';
import { RolloutEngine, type TransferSlots } from './engine.ts';

const TICK_MS = 1000;

/**
 * The rollout engine's lifetime in the daemon: resumes live rollouts on start, hears device reports,
 * runs soak timers and deadlines once a second, saves soak progress on stop. `engine` is the
 * UpdatePolicy the CoAP check-in asks.
 */
export class RolloutService implements Service {
  readonly name = 'rollout';
  readonly engine: RolloutEngine;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly ctx: DaemonContext,
    deps: { slots?: TransferSlots; patches?: PatchProvider } = {},
  ) {
    this.log = ctx.log.child({ module: 'rollout' });
    this.engine = new RolloutEngine({
      rollouts: new RolloutRepo(ctx.db),
      devices: new DeviceRepo(ctx.db),
      releases: new ReleaseRepo(ctx.db),
      clock: ctx.clock,
      log: this.log,
      events: ctx.events,
      slots: deps.slots,
      patches: deps.patches,
      fallback: ctx.config.rollouts.unmanaged === 'newest' ? new NewestReleasePolicy(ctx.db) : undefined,
    });
  }

  /** The delta module's provider, when it is built after this service. */
  setPatchProvider(p: PatchProvider): void {
    this.engine.usePatchProvider(p);
  }

  async start(): Promise<void> {
    this.engine.start();
    this.unsubscribe.push(this.ctx.events.on('device.report', 'rollout', (e) => this.engine.onReport(e)));
    this.timer = setInterval(() => {
      try {
        this.engine.tick(true);
      } catch (err) {
        this.log.error({ err }, 'rollout tick failed');
      }
    }, TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const u of this.unsubscribe.splice(0)) u();
    this.engine.stop();
  }

  reload(config: Config): void {
    // Rollouts themselves live in SQLite (applied with `furrow rollout apply`), not in furrow.yaml.
    this.engine.useFallback(config.rollouts.unmanaged === 'newest' ? new NewestReleasePolicy(this.ctx.db) : undefined);
  }
}
