import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import { isRegistered } from './at/urc.ts';
import { at } from './bringup.ts';
import type { QuectelDriver } from './driver.ts';
import { PortClosedError } from './errors.ts';
import { parseCeLevel, parseCeregRead, parseCesq, parseCsq, parseQengBc66, parseQengBg96, type ServingCell } from './parse.ts';
import { TIMEOUT_MS } from './timeouts.ts';

/** What the scheduler (per-cell caps), `furrow modem status` and /metrics see. */
export interface ModemHealth extends ServingCell {
  model?: string;
  revision?: string;
  state: string;
  registered: boolean;
  regStat?: number;
  csq?: number;
  rssiDbm?: number;
  ip?: string;
  /** Wall-clock ms of the last successful poll. */
  polledAt?: number;
  /** Bytes of line noise seen since start. */
  garbageBytes: number;
}

/**
 * Polls signal and serving-cell data on an interval, through the same AT queue as everything else (so
 * a poll never interleaves with a send). A failed query leaves the old value out rather than stale.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private last: ModemHealth = { state: 'disconnected', registered: false, garbageBytes: 0 };
  private polling = false;

  constructor(
    private readonly driver: QuectelDriver,
    private readonly events: EventBus,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  current(): ModemHealth {
    const d = this.driver;
    return {
      ...this.last,
      state: d.state,
      registered: d.registration ? isRegistered(d.registration.stat) : false,
      ...(d.model ? { model: d.model } : {}),
      ...(d.revision ? { revision: d.revision } : {}),
      ...(d.ip ? { ip: d.ip } : {}),
      garbageBytes: d.client.garbageSeen,
    };
  }

  /** One round of queries; skipped while the modem is down or a poll is already running. */
  async poll(): Promise<ModemHealth | undefined> {
    const d = this.driver;
    if (this.polling || !d.client.attached || !d.model || d.state === 'initialising') return undefined;
    this.polling = true;
    const next: Partial<ModemHealth> = {};
    try {
      const q = async (command: string, expect: string, timeoutMs: number = TIMEOUT_MS.basic): Promise<string | undefined> => {
        try {
          const r = await at(d.client, command, timeoutMs, { expect });
          return r.lines.find((l) => l.text.startsWith(expect))?.text;
        } catch (err) {
          if (err instanceof PortClosedError) throw err;
          this.log.debug({ command, err: (err as Error).message }, 'health query failed');
          return undefined;
        }
      };
      Object.assign(next, parseCsq((await q('AT+CSQ', '+CSQ:')) ?? ''));
      Object.assign(next, parseCesq((await q('AT+CESQ', '+CESQ:')) ?? ''));
      const reg = parseCeregRead((await q('AT+CEREG?', '+CEREG:')) ?? '');
      if (reg) {
        next.regStat = reg.stat;
        if (reg.cellId) next.cellId = reg.cellId;
        if (reg.tac) next.tac = reg.tac;
      }
      // The serving cell's own RSRP/RSRQ (QENG) are more precise than CESQ's 1 dB / 0.5 dB steps.
      if (d.model === 'bc66') Object.assign(next, parseQengBc66((await q('AT+QENG=0', '+QENG:', TIMEOUT_MS.qeng)) ?? ''));
      else {
        Object.assign(next, parseQengBg96((await q('AT+QENG="servingcell"', '+QENG:', TIMEOUT_MS.qeng)) ?? ''));
        const ce = parseCeLevel((await q('AT+QCFG="celevel"', '+QCFG:', TIMEOUT_MS.qcfg)) ?? '');
        if (ce !== undefined) next.ceLevel = ce;
      }
      if (next.rat) d.rat = next.rat;
      await d.io.pollBuffered();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'health poll interrupted');
      return undefined;
    } finally {
      this.polling = false;
    }
    // Only what this round read: a query that failed leaves its field empty instead of stale.
    this.last = { state: d.state, registered: false, garbageBytes: 0, ...next, polledAt: this.now() };
    return this.emitCurrent();
  }

  /** Publishes the current snapshot as `modem.health` (after each poll, and when the modem's state changes). */
  emitCurrent(): ModemHealth {
    const h = this.current();
    this.events.emit('modem.health', {
      model: h.model ?? 'unknown',
      registered: h.registered,
      ...(h.rsrp !== undefined ? { rsrp: h.rsrp } : {}),
      ...(h.rsrq !== undefined ? { rsrq: h.rsrq } : {}),
      ...(h.sinr !== undefined ? { sinr: h.sinr } : {}),
      ...(h.csq !== undefined ? { csq: h.csq } : {}),
      ...(h.cellId !== undefined ? { cellId: h.cellId } : {}),
      ...(h.ceLevel !== undefined ? { ceLevel: h.ceLevel } : {}),
    });
    return h;
  }
}
