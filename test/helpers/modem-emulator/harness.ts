import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { systemClock } from '../../../src/clock.ts';
import { EventBus } from '../../../src/events.ts';
import { modemConfigSchema, type ModemConfig } from '../../../src/modem/config.ts';
import type { ModemState } from '../../../src/modem/driver.ts';
import { ModemService } from '../../../src/modem/service.ts';
import { ModemEmulator, type EmulatedModel } from './emulator.ts';

/** Captured pino lines, so tests can check that the log says what happened. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown> & { msg: string }> = [];
  readonly logger = pino({ level: 'debug' }, new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      for (const l of chunk.toString().split('\n')) if (l) this.lines.push(JSON.parse(l));
      cb();
    },
  }));

  has(msg: string | RegExp): boolean {
    return this.lines.some((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  find(msg: string | RegExp): Array<Record<string, unknown>> {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  dump(): string {
    return this.lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify({ ...l, level: undefined, msg: undefined, time: undefined, pid: undefined, hostname: undefined })}`).join('\n');
  }
}

export interface Rig {
  dir: string;
  emu: ModemEmulator;
  modem: ModemService;
  logs: LogCapture;
  events: EventBus;
  cfg: ModemConfig;
  waitState(state: ModemState, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startRig(
  model: EmulatedModel,
  overrides: Partial<Record<keyof ModemConfig, unknown>> = {},
  before?: (emu: ModemEmulator) => void,
  emuOpts: { noDataformat?: boolean } = {},
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-modem-'));
  const link = join(dir, 'ttyMODEM');
  const emu = new ModemEmulator({ model, link, ...emuOpts });
  before?.(emu);
  await emu.start();
  const logs = new LogCapture();
  const events = new EventBus(logs.logger);
  const cfg = modemConfigSchema.parse({
    port: link,
    localPort: 0,
    healthIntervalSeconds: 3600,
    registrationTimeoutSeconds: 10,
    reconnect: { minMs: 50, maxMs: 400 },
    ...overrides,
  });
  const modem = new ModemService({ log: logs.logger, events, clock: systemClock }, cfg);
  await modem.start();
  const waitState = (state: ModemState, timeoutMs = 8000) =>
    new Promise<void>((resolve, reject) => {
      if (modem.driver.state === state) return resolve();
      const t = setTimeout(() => {
        modem.driver.off('state', on);
        reject(new Error(`modem did not reach ${state} in ${timeoutMs} ms (now ${modem.driver.state}, step ${modem.driver.step})\n${logs.dump()}`));
      }, timeoutMs);
      const on = (s: ModemState) => {
        if (s !== state) return;
        clearTimeout(t);
        modem.driver.off('state', on);
        resolve();
      };
      modem.driver.on('state', on);
    });
  return {
    dir,
    emu,
    modem,
    logs,
    events,
    cfg,
    waitState,
    close: async () => {
      await modem.stop();
      await emu.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
