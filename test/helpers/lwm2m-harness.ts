/**
 * The LwM2M server modules on a real UDP socket and a real SQLite file, without the rest of the daemon:
 * the registration resource, device manager and message layer the daemon composes, so a test can drive
 * Read/Write/Execute/Observe against an interop client directly.
 */
import { join } from 'node:path';
import { UdpTransport } from '../../src/bearer/udp.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { silentLogger } from '../../src/log.ts';
import { lwm2mConfigSchema, type Lwm2mConfig } from '../../src/lwm2m/config.ts';
import { DeviceManager } from '../../src/lwm2m/device-manager.ts';
import { RegistrationResource, type RegistrationEvent } from '../../src/lwm2m/registration.ts';
import { openDatabase } from '../../src/store/database.ts';
import { Lwm2mRepo } from '../../src/store/lwm2m.ts';
import { tempDir } from './tmp.ts';

export interface Lwm2mHarness {
  port: number;
  repo: Lwm2mRepo;
  dm: DeviceManager;
  reg: RegistrationResource;
  server: CoapServer;
  events: RegistrationEvent[];
  next(kind: RegistrationEvent['kind'], timeoutMs?: number): Promise<RegistrationEvent>;
  stop(): Promise<void>;
}

export async function startLwm2mHarness(config: unknown, opts: { dbFile?: string; awakeMs?: number } = {}): Promise<Lwm2mHarness> {
  const tmp = tempDir('furrow-lwm2m-');
  const db = openDatabase(opts.dbFile ?? join(tmp.dir, 'furrow.db'));
  const log = silentLogger();
  const cfg: Lwm2mConfig = lwm2mConfigSchema.parse(config);
  const server = new CoapServer({ log, clock: { now: () => Date.now(), monotonic: () => performance.now() }, limits: { ratePerSecond: 1000, burst: 1000, repliesPerPeer: 2, maxPeers: 100 }, maxDatagram: 1400 });
  const udp = new UdpTransport({ host: '127.0.0.1', port: 0 });
  const repo = new Lwm2mRepo(db);
  const dm = new DeviceManager({ exchange: server.exchange, transport: () => udp, monotonic: () => performance.now(), log, ...(opts.awakeMs !== undefined ? { awakeMs: opts.awakeMs } : {}) });
  const events: RegistrationEvent[] = [];
  let waiters: Array<{ kind: string; resolve: (e: RegistrationEvent) => void }> = [];
  const reg = new RegistrationResource({
    repo,
    config: () => cfg,
    log,
    now: () => Date.now(),
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'deregistered') dm.forget(e.reg.endpoint);
      else dm.heard(e.reg);
      waiters = waiters.filter((w) => (w.kind === e.kind ? (w.resolve(e), false) : true));
    },
  });
  server.addResource(reg);
  server.attach(udp);
  server.start();
  await udp.start();
  return {
    port: udp.port,
    repo,
    dm,
    reg,
    server,
    events,
    next(kind, timeoutMs = 30_000) {
      const seen = events.find((e) => e.kind === kind);
      if (seen) {
        events.splice(events.indexOf(seen), 1);
        return Promise.resolve(seen);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${kind} event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          kind,
          resolve: (e) => {
            clearTimeout(t);
            events.splice(events.indexOf(e), 1);
            resolve(e);
          },
        });
      });
    },
    async stop() {
      server.stop();
      await udp.stop();
      db.close();
      tmp.cleanup();
    },
  };
}
