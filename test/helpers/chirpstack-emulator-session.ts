/**
 * Runs a complete multicast FUOTA session against the emulator: N devices (FurrowLoraDevice, Class A,
 * each with its own GenAppKey and loss), the gateway's LoraTransport and MulticastApi, and the real
 * scheduler as the duty-cycle gate. The scheduler runs on a warp clock: a pacing wait advances the
 * clock instead of sleeping, so a session that needs an hour of EU868 duty cycle runs in seconds while
 * the scheduler still enforces (and the result still reports) the real timing.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../src/clock.ts';
import { MulticastApi } from '../../src/bearer/lora/chirpstack/multicast-api.ts';
import { loraConfigSchema } from '../../src/bearer/lora/config.ts';
import { FuotaSession, type FuotaResult } from '../../src/bearer/lora/fuota/session.ts';
import type { LoraTransport } from '../../src/bearer/lora/transport.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { Scheduler } from '../../src/schedule/scheduler.ts';
import { scheduleConfigSchema } from '../../src/schedule/config.ts';
import type { ChirpStackEmulator } from './chirpstack-emulator.ts';
import { FurrowLoraDevice } from './chirpstack-emulator-device.ts';
import { APP_ID, PORTS } from './chirpstack-emulator-gateway.ts';

export class WarpClock implements Clock {
  skippedMs = 0;
  now(): number {
    return Date.now() + this.skippedMs;
  }
  monotonic(): number {
    return performance.now() + this.skippedMs;
  }
  readonly sleep = async (ms: number): Promise<void> => {
    this.skippedMs += ms;
    await new Promise((r) => setImmediate(r));
  };
}

export interface SessionRun {
  result: FuotaResult;
  devices: FurrowLoraDevice[];
  scheduler: Scheduler;
  clock: WarpClock;
  /** Session length in the warp clock (what the radio would really take). */
  radioMs: number;
}

export async function runMulticastSession(opts: {
  emu: ChirpStackEmulator;
  transport: LoraTransport;
  data: Buffer;
  devices: number;
  firstEui?: number;
  dr?: number;
  lossDown?: (i: number) => number | undefined;
  redundancy?: number;
  log?: Logger;
  onProgress?: (sent: number, total: number) => void;
  heartbeatMs?: number;
}): Promise<SessionRun> {
  const dr = opts.dr ?? 5;
  const first = opts.firstEui ?? 0x100;
  const devices: FurrowLoraDevice[] = [];
  const members = [];
  for (let i = 0; i < opts.devices; i++) {
    const devEui = `70b3d57ed01${(first + i).toString(16).padStart(5, '0')}`;
    const genAppKey = randomBytes(16);
    const lossDown = opts.lossDown?.(i);
    const d = new FurrowLoraDevice(opts.emu, devEui, { dr, genAppKey, ports: PORTS, heartbeatMs: opts.heartbeatMs ?? 500, repairIntervalMs: 600, ...(lossDown !== undefined ? { lossDown } : {}) });
    devices.push(d);
    members.push({ devEui, genAppKey });
    // The gateway learns each device's DR from its first uplink, as in the field.
    opts.transport.device(devEui).dr = dr;
  }
  for (const d of devices) d.start();
  const clock = new WarpClock();
  const scheduler = new Scheduler(scheduleConfigSchema.parse({ bearers: { 'lora-mc': { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 12 - Math.min(dr, 5) } } }), clock);
  const config = loraConfigSchema.parse({ chirpstack: { applicationId: APP_ID }, multicast: { dr, redundancy: opts.redundancy ?? 0.2 } }).multicast;
  const session = new FuotaSession({
    transport: opts.transport,
    api: new MulticastApi(opts.emu.apiUrl, null),
    gate: scheduler,
    gateBearer: 'lora-mc',
    sleep: clock.sleep,
    now: () => clock.now(),
    log: opts.log ?? silentLogger(),
    applicationId: APP_ID,
    config,
    members,
    data: opts.data,
    answerTimeoutMs: (opts.heartbeatMs ?? 500) * 3,
    maxAttempts: 8,
    repairDeadlineMs: 30_000,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const t0 = clock.monotonic();
  try {
    const result = await session.run();
    return { result, devices, scheduler, clock, radioMs: clock.monotonic() - t0 };
  } finally {
    for (const d of devices) d.stop();
  }
}
