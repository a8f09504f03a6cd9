import { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AtClient } from './at/client.ts';
import { isRegistered, type Urc } from './at/urc.ts';
import { at, attachPdp, checkSim, configure, identify, openSocket, register, synchronise, type StepContext } from './bringup.ts';
import type { ModemConfig } from './config.ts';
import { ModemError, PortClosedError } from './errors.ts';
import type { ModemModel } from './parse.ts';
import { backoffMs } from './port.ts';
import { DatagramIo, type Peer } from './datagrams.ts';

/**
 * Layer 3: one driver for both Quectel models. It detects the model (ATI/AT+CGMR), runs the bring-up
 * (SIM → registration → PDP → socket) with retries, reacts to URCs, and recovers on its own after a
 * registration loss, a PDP deactivation, a closed socket, a modem reboot or a vanished port.
 *
 * A single supervisor loop does all bring-up work; URC handlers only raise `need` and wake it, so two
 * recoveries can never interleave their AT commands.
 */
export type ModemState = 'disconnected' | 'initialising' | 'registering' | 'attaching' | 'ready' | 'stopped';
type Need = 'none' | 'socket' | 'network' | 'full';
const RANK: Record<Need, number> = { none: 0, socket: 1, network: 2, full: 3 };
const maxNeed = (a: Need, b: Need): Need => (RANK[a] >= RANK[b] ? a : b);

export interface DriverEvents {
  datagram: [Buffer, Peer];
  state: [ModemState, string];
}

export class QuectelDriver extends EventEmitter<DriverEvents> {
  model: ModemModel | undefined;
  revision: string | undefined;
  ip: string | undefined;
  registration: { stat: number; tac?: string; cellId?: string } | undefined;
  /** Radio access technology of the serving cell from the last health poll ("CAT-M", "CAT-NB", "NB-IoT"). */
  rat: string | undefined;
  state: ModemState = 'disconnected';
  step = '';
  readonly io: DatagramIo;
  private need: Need = 'full';
  private running = false;
  private waker: (() => void) | undefined;
  private regWaiters: Array<() => void> = [];
  private loop: Promise<void> | undefined;
  private failures = 0;

  constructor(
    private readonly cfg: ModemConfig,
    readonly client: AtClient,
    private readonly log: Logger,
  ) {
    super();
    this.io = new DatagramIo(cfg, client, log, () => this.model, (p) => this.emit('datagram', ...p));
  }

  start(): void {
    this.running = true;
    this.client.on('urc', this.onUrc);
    this.loop = this.supervise();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.client.off('urc', this.onUrc);
    this.wake();
    for (const w of this.regWaiters.splice(0)) w();
    await this.loop;
    this.setState('stopped', 'service stopping');
  }

  /** The port (re)opened: everything the modem knew may be gone. */
  portOpened(): void {
    this.raise('full', 'serial port opened');
  }

  portLost(reason: string): void {
    this.io.forgetSockets();
    this.registration = undefined;
    this.setState('disconnected', reason);
    this.need = 'full';
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  private raise(need: Need, reason: string): void {
    const before = this.need;
    this.need = maxNeed(this.need, need);
    if (this.need !== before) this.log.info({ need: this.need, reason }, 'modem recovery scheduled');
    this.wake();
  }

  private setState(state: ModemState, reason: string): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state, reason);
  }

  private wake(): void {
    const w = this.waker;
    this.waker = undefined;
    w?.();
  }

  private idle(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === undefined ? undefined : setTimeout(() => this.wake(), ms);
      this.waker = () => {
        if (t) clearTimeout(t);
        resolve();
      };
    });
  }

  private stepContext(): StepContext {
    return {
      client: this.client,
      cfg: this.cfg,
      log: this.log,
      setStep: (s) => {
        this.step = s;
      },
      waitRegistrationChange: (ms) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(done, ms);
          function done() {
            clearTimeout(t);
            resolve();
          }
          this.regWaiters.push(done);
        }),
      stopped: () => !this.running,
    };
  }

  private async supervise(): Promise<void> {
    while (this.running) {
      if (!this.client.attached || this.need === 'none') {
        await this.idle();
        continue;
      }
      const need = this.need;
      this.need = 'none';
      try {
        await this.bringUp(need);
        this.failures = 0;
        if (this.need === 'none') {
          this.setState('ready', `up after ${need} bring-up`);
          this.log.info({ model: this.model, revision: this.revision, ip: this.ip, sockets: this.io.describeSockets() }, 'modem ready');
        }
      } catch (err) {
        if (!this.running) break;
        this.failures++;
        // Retrying the same step forever hides a wedged modem: escalate to a full bring-up.
        const retry = this.failures >= 3 ? 'full' : need;
        this.need = maxNeed(this.need, retry);
        if (err instanceof PortClosedError || !this.client.attached) {
          this.log.warn({ step: this.step, error: errorMessage(err) }, 'modem bring-up interrupted: serial port gone');
          continue;
        }
        const delay = backoffMs(this.failures, this.cfg.reconnect.minMs, this.cfg.reconnect.maxMs);
        this.log.warn({ step: this.step, attempt: this.failures, retryInMs: delay, retry: this.need, error: errorMessage(err) }, 'modem bring-up failed; retrying');
        await this.idle(delay);
      }
    }
  }

  private async bringUp(need: Need): Promise<void> {
    const ctx = this.stepContext();
    if (need === 'full') {
      this.setState('initialising', 'bring-up');
      this.client.setPayloadRule(undefined);
      await synchronise(ctx);
      const id = await identify(ctx);
      this.model = id.model;
      this.revision = id.revision;
      this.log.info({ model: id.model, revision: id.revision, ati: id.ati }, 'modem identified');
      await checkSim(ctx);
      const { recvHex } = await configure(ctx, id.model);
      this.io.recvHex = recvHex;
      this.client.setPayloadRule(this.io.payloadRule());
    }
    const model = this.model;
    if (!model) throw new ModemError('MODEM_UNKNOWN', 'modem model unknown; a full bring-up is needed');
    if (need === 'full' || need === 'network') {
      this.setState('registering', 'waiting for CEREG');
      this.registration = await register(ctx);
      this.setState('attaching', 'PDP context');
      this.ip = await attachPdp(ctx, model);
    }
    await this.io.openAll(ctx, model, openSocket);
  }

  private readonly onUrc = (u: Urc): void => {
    switch (u.type) {
      case 'recv':
        this.io.onRecv(u);
        return;
      case 'closed':
        this.log.warn({ connectId: u.connectId }, 'modem closed a socket (+QIURC: "closed"); reopening');
        this.io.markClosed(u.connectId);
        if (this.state === 'ready') this.setState('attaching', 'socket closed');
        this.raise('socket', 'socket closed');
        return;
      case 'pdpdeact':
        this.log.warn({ contextId: u.contextId }, 'network deactivated the PDP context (+QIURC: "pdpdeact"); re-attaching');
        this.io.forgetSockets();
        this.setState('registering', 'PDP deactivated');
        this.raise('network', 'pdpdeact');
        return;
      case 'cereg': {
        const was = this.registration && isRegistered(this.registration.stat);
        this.registration = { stat: u.stat, ...(u.tac ? { tac: u.tac } : {}), ...(u.cellId ? { cellId: u.cellId } : {}) };
        for (const w of this.regWaiters.splice(0)) w();
        if (was && !isRegistered(u.stat)) {
          this.log.warn({ stat: u.stat }, 'lost network registration (+CEREG); datagrams are refused until it is back');
          this.setState('registering', 'registration lost');
          this.raise('network', 'registration lost');
        } else if (!was && isRegistered(u.stat)) this.log.info({ stat: u.stat, cellId: u.cellId }, 'network registration back');
        return;
      }
      case 'ip':
        this.ip = u.address;
        return;
      case 'ready':
        this.log.warn('modem restarted (RDY); running a full bring-up');
        this.io.forgetSockets();
        this.registration = undefined;
        this.setState('initialising', 'modem restarted');
        this.raise('full', 'RDY');
        return;
      case 'powerdown':
        this.log.warn({ urc: u.text }, 'modem powered down; waiting for it to come back');
        this.io.forgetSockets();
        this.registration = undefined;
        this.setState('disconnected', u.text);
        this.raise('full', u.text);
        return;
      default:
        return;
    }
  };

  /** An operator's raw command (`furrow modem at`), queued with everything else. */
  async raw(command: string, timeoutMs: number): Promise<{ lines: string[]; final: string }> {
    const r = await at(this.client, command, timeoutMs, { resolveErrors: true });
    return { lines: r.lines.map((l) => l.text), final: r.final };
  }
}
