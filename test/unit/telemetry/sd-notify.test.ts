/**
 * The systemd notifier against a real AF_UNIX datagram socket (socat, Debian package socat, plays
 * systemd's notify socket) with the real systemd-notify (Debian package systemd).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.ts';
import { configSchema } from '../../../src/config/index.ts';
import type { DaemonContext } from '../../../src/context.ts';
import { EventBus } from '../../../src/events.ts';
import { silentLogger } from '../../../src/log.ts';
import { BlobStore } from '../../../src/release/blob-store.ts';
import { openDatabase } from '../../../src/store/database.ts';
import { SystemdNotifier } from '../../../src/telemetry/sd-notify.ts';

let dir: string;
let socat: ChildProcess;
let received = '';
let ctx: DaemonContext;

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(received)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'furrow-'));
  const sock = join(dir, 'notify');
  received = '';
  socat = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  socat.on('error', (err) => {
    throw new Error(`cannot run socat (install the Debian package socat): ${err.message}`);
  });
  socat.stdout!.on('data', (d: Buffer) => (received += d.toString()));
  await until('the notify socket', () => existsSync(sock));
  const log = silentLogger();
  ctx = {
    config: configSchema.parse({}),
    configFile: join(dir, 'furrow.yaml'),
    log,
    db: openDatabase(':memory:', { skipIntegrityCheck: true }),
    blobs: new BlobStore(join(dir, 'blobs')),
    events: new EventBus(log),
    clock: systemClock,
  };
});

afterEach(() => {
  // a datagram the last test caused (STOPPING=1 is sent without waiting) may still be in the pipe:
  // it must not land in the next test's `received`
  socat.stdout!.removeAllListeners('data');
  socat.kill('SIGKILL');
  ctx.db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SystemdNotifier', () => {
  it('reports ready once every service started, feeds the watchdog, and says when it stops', async () => {
    const env = { ...process.env, NOTIFY_SOCKET: join(dir, 'notify'), WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) };
    const n = new SystemdNotifier(ctx, silentLogger(), env);
    await n.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(received).not.toContain('READY=1');
    ctx.events.emit('daemon.ready', { services: ['a', 'b'] });
    await until('READY=1', () => received.includes('READY=1'));
    expect(received).toContain('STATUS=furrow running: 2 services');
    await until('two watchdog pings', () => received.split('WATCHDOG=1').length > 2);
    await n.stop();
    await until('STOPPING=1', () => received.includes('STOPPING=1'));
  });

  it('leaves the watchdog alone when systemd watches another process', async () => {
    const env = { ...process.env, NOTIFY_SOCKET: join(dir, 'notify'), WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' };
    const n = new SystemdNotifier(ctx, silentLogger(), env);
    await n.start();
    ctx.events.emit('daemon.ready', { services: [] });
    await until('READY=1', () => received.includes('READY=1'));
    await new Promise((r) => setTimeout(r, 1200));
    expect(received).not.toContain('WATCHDOG=1');
    await n.stop();
  });

  it('does nothing outside systemd (no NOTIFY_SOCKET)', async () => {
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    const n = new SystemdNotifier(ctx, silentLogger(), env);
    await n.start();
    ctx.events.emit('daemon.ready', { services: [] });
    await new Promise((r) => setTimeout(r, 300));
    await n.stop();
    expect(received).toBe('');
  });
});
