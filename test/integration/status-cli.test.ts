/**
 * `furrow status` as an operator runs it on the Pi: from the running daemon's /status when it answers,
 * else straight from the database, saying which.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort, runFurrow } from '../helpers/daemon.ts';

describe('furrow status', () => {
  let dir: string;
  let config: string;
  let metricsPort: number;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    config = join(dir, 'furrow.yaml');
    metricsPort = await freeTcpPort();
    writeFileSync(
      config,
      [
        'gateway: { id: gw-status }',
        `data: { dir: ${join(dir, 'data')} }`,
        `coap: { host: 127.0.0.1, port: ${await freeUdpPort()} }`,
        `metrics: { port: ${metricsPort} }`,
        // Nothing listens on port 9 (discard): the daemon keeps retrying and says so in status.
        'mqtt: { url: "mqtt://127.0.0.1:9", reconnectSeconds: 0.2 }',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('explains what to do when no daemon answers and no database exists yet', async () => {
    const r = await runFurrow(['--config', config, 'status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the daemon is not reachable at http://127.0.0.1:${metricsPort}/status`);
    expect(r.stderr).toContain('there is no database at');
    expect(r.stderr).toContain('hint: start the daemon once with this config');
  });

  it('shows the running daemon\'s view, then the database\'s once the daemon is gone', async () => {
    daemon = DaemonProcess.start(['--config', config, 'start']);
    await daemon.waitForMsg('furrow started');
    const db = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    const now = Date.now();
    new DeviceRepo(db).add({ id: 'probe-07', product: 'soil-probe' }, now);
    db.prepare(
      "INSERT INTO transfers (device_id, patch_id, size, offset, bytes_served, state, bearer, started_at, last_seen_at) VALUES ('probe-07', ?, 40000, 10000, 10000, 'active', 'udp', ?, ?)",
    ).run('ab'.repeat(32), now, now);
    db.close();

    const [json, text] = await Promise.all([runFurrow(['--config', config, 'status', '--json']), runFurrow(['--config', config, 'status'])]);
    expect(json.code, json.stderr).toBe(0);
    const snap = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(snap).toMatchObject({
      source: 'daemon',
      gateway: 'gw-status',
      daemon: { ready: true },
      mqtt: { enabled: true, connected: false },
      counts: { devices: 1, transfersActive: 1 },
      transfers: [{ deviceId: 'probe-07', percent: 25, bearer: 'udp' }],
    });
    expect((snap.mqtt as { lastError: string }).lastError).toMatch(/ECONNREFUSED/);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^furrow gateway gw-status — from the running daemon \(pid \d+, up /);
    expect(text.stdout).toContain('MQTT       DISCONNECTED: connect ECONNREFUSED 127.0.0.1:9');
    expect(text.stdout).toMatch(/probe-07\s+abababababab\s+active\s+\[#####---------------\]\s+25\.0%/);

    await daemon.stop();
    daemon = undefined;
    const offline = await runFurrow(['--config', config, 'status']);
    // 3: the daemon is down; the database's snapshot is still printed.
    expect(offline.code, offline.stderr).toBe(3);
    expect(offline.stdout).toContain(`from the database: the daemon is not reachable at http://127.0.0.1:${metricsPort}/status (ECONNREFUSED)`);
    expect(offline.stdout).toContain('MQTT       configured (link state known only to the running daemon)');
    expect(offline.stdout).toContain('25.0%');
  });
});
