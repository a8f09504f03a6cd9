/**
 * The real daemon (`node bin/furrow.js start`, a child process) SIGKILLed with events in its outbox: after a
 * restart every event reaches a real mosquitto, in order. The events are real: releases written to the
 * database by another process (as `furrow release add` does) are announced by the daemon's release watcher,
 * recorded by telemetry, and published.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { Outbox } from '../../src/store/outbox.ts';
import { ReleaseRepo } from '../../src/store/releases.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort } from '../helpers/daemon.ts';
import { consumer, Mosquitto, waitFor } from './mqtt-broker.ts';

let dir: string;
let broker: Mosquitto;
let daemon: DaemonProcess | undefined;
let db: Db | undefined;
const closers: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'furrow-'));
  // The consumer is connected before the daemon publishes, so the broker needs no persistence here.
  broker = await Mosquitto.start(dir, { persistent: false });
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => undefined);
  if (daemon) await daemon.stop();
  daemon = undefined;
  db?.close();
  db = undefined;
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function writeConfig(): Promise<string> {
  const file = join(dir, 'furrow.yaml');
  writeFileSync(
    file,
    [
      'gateway: { id: gw-crash }',
      `data: { dir: ${join(dir, 'data')} }`,
      `coap: { host: 127.0.0.1, port: ${await freeUdpPort()} }`,
      `metrics: { port: ${await freeTcpPort()} }`,
      'mqtt:',
      `  url: ${broker.url}`,
      '  reconnectSeconds: 0.2',
      '',
    ].join('\n'),
  );
  return file;
}

async function startDaemon(config: string): Promise<DaemonProcess> {
  const d = DaemonProcess.start(['--config', config, 'start'], { env: { FURROW_LOG_LEVEL: 'info' } });
  await d.waitForMsg('furrow started');
  daemon = d;
  return d;
}

async function sigkill(d: DaemonProcess): Promise<void> {
  d.signal('SIGKILL');
  const r = await d.exited;
  expect(r.signal).toBe('SIGKILL');
  daemon = undefined;
}

/** What `furrow release add` leaves in the database (no image needed for the announcement). */
function addReleases(store: Db, from: number, count: number): void {
  const repo = new ReleaseRepo(store);
  store.transaction(() => {
    for (let i = from; i < from + count; i++) {
      const sha256 = createHash('sha256').update(`image-${i}`).digest('hex');
      repo.insert({ sha256, product: `probe-${i}`, version: `1.0.${i}`, secureVersion: 0, size: 1000 + i, chip: 'esp32', appVersion: null, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: Date.now() });
    }
  })();
}

const versionOf = (m: { body: Record<string, unknown> }) => Number(String((m.body.data as { version: string }).version).split('.')[2]);

describe('daemon SIGKILL with events pending', () => {
  it('delivers the pending events after a restart, in order, and nothing acknowledged twice', async () => {
    await broker.kill();
    const config = await writeConfig();
    const first = await startDaemon(config);
    db = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    const outbox = new Outbox(db);

    // Broker down: the daemon records the events and keeps them.
    addReleases(db, 0, 30);
    await waitFor('30 events in the outbox', () => outbox.depth() === 30);
    await sigkill(first);
    expect(outbox.depth()).toBe(30);

    // Broker back, consumer listening, daemon restarted: the backlog goes out in order.
    await broker.restart();
    const sub = await consumer(broker.url, 'furrow/gw-crash/releases');
    closers.push(() => sub.client.endAsync(true));
    const second = await startDaemon(config);
    await waitFor('30 releases at the consumer', () => sub.messages.length >= 30);
    expect(sub.messages.map(versionOf)).toEqual([...Array(30).keys()]);
    const seqs = sub.messages.map((m) => m.body.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await waitFor('outbox drained', () => outbox.depth() === 0);

    // Killed again mid-drain, with the broker up: whatever the broker acknowledged is not re-sent; what was
    // in flight may be (at most the inflight window, 16); nothing is lost.
    addReleases(db, 30, 300);
    await waitFor('the drain has begun', () => sub.messages.length > 30, 20_000);
    await sigkill(second);
    const ackedAtKill = outbox.lastAckedSeq();
    const pendingAtKill = outbox.depth();
    await startDaemon(config);
    await waitFor('all 330 releases at the consumer', () => new Set(sub.messages.map((m) => m.body.seq)).size >= 330, 30_000);
    await waitFor('outbox drained', () => outbox.depth() === 0);

    const firstSeen = new Map<number, number>();
    let resent = 0;
    for (const m of sub.messages) {
      const seq = m.body.seq as number;
      if (firstSeen.has(seq)) {
        if (!m.dup) resent++;
        // A repeat is only ever something that was not yet marked acknowledged when the daemon died.
        expect(seq).toBeGreaterThan(ackedAtKill);
        continue;
      }
      firstSeen.set(seq, versionOf(m));
    }
    expect([...firstSeen.values()]).toEqual([...Array(330).keys()]);
    expect(resent).toBeLessThanOrEqual(16);
    // Sanity: the kill really happened with work left (otherwise this test proves nothing about restarts).
    expect(pendingAtKill + resent).toBeGreaterThan(0);
  });
});
