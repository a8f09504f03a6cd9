/**
 * The lifecycle verbs on a real SQLite file and blob store: which database a verb uses and when it may create
 * one, `devices remove`, `release remove`, `gc`, and retained MQTT topics of a removed device cleared by the
 * real daemon through a real mosquitto once it runs.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { runFurrowInProcess as cli } from '../helpers/cli.ts';
import { DaemonProcess, runFurrow } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { seedDataDir } from './lifecycle-seed.ts';
import { Mosquitto, waitFor } from './mqtt-broker.ts';

/** The schema version a fresh database ends at: the highest NNN of src/store/migrations/NNN_*.sql. */
const LATEST_MIGRATION = Math.max(...readdirSync(join(import.meta.dirname, '../../src/store/migrations')).map((f) => Number.parseInt(f, 10)).filter(Number.isFinite));

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('furrow-lifecycle-');
});
afterEach(() => tmp.cleanup());

function writeConfig(dir: string, extra = ''): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'furrow.yaml');
  writeFileSync(file, `gateway: { id: gw-life }\ndata: { dir: ./data }\ncoap: { host: 127.0.0.1, port: 0 }\nmetrics: { port: 0 }\n${extra}`);
  return file;
}

describe('which database a verb uses', () => {
  it('refuses to create a database for a verb that only reads, naming the path and how the config was found', async () => {
    const site = join(tmp.dir, 'site');
    writeConfig(site);
    const db = join(site, 'data', 'furrow.db');
    const r = await runFurrow(['devices', 'list'], { cwd: tmp.dir, env: { FURROW_CONFIG: 'site/furrow.yaml' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no database at ${db} (data.dir of ${join(site, 'furrow.yaml')}, found via FURROW_CONFIG)`);
    expect(r.stderr).toContain('hint: create it with `furrow init`');
    for (const verb of [['release', 'list'], ['release', 'show', 'p', '1'], ['delta', 'list'], ['rollout', 'status'], ['lora', 'multicast', 'status'], ['gc'], ['backup', join(tmp.dir, 'b.tar')]]) {
      const v = await cli(['-c', join(site, 'furrow.yaml'), ...verb]);
      expect(v.code, verb.join(' ')).toBe(2);
      expect(v.stderr).toContain(`no database at ${db} (data.dir of ${join(site, 'furrow.yaml')}, found via --config)`);
    }
    expect(existsSync(join(site, 'data'))).toBe(false);

    // ./config/furrow.yaml in the working directory; data.dir resolves against that file's directory.
    mkdirSync(join(tmp.dir, 'config'));
    writeFileSync(join(tmp.dir, 'config', 'furrow.yaml'), 'data: { dir: ../state }\n');
    const verbose = await runFurrow(['--verbose', 'init', '--json'], { cwd: tmp.dir, env: { FURROW_CONFIG: '' } });
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toContain(`furrow: config ${join(tmp.dir, 'config', 'furrow.yaml')} (./config/furrow.yaml in the working directory); database ${join(tmp.dir, 'state', 'furrow.db')}`);
    expect(JSON.parse(verbose.stdout)).toMatchObject({ database: join(tmp.dir, 'state', 'furrow.db'), created: true, schemaVersion: LATEST_MIGRATION });
    const list = await runFurrow(['devices', 'list'], { cwd: tmp.dir, env: { FURROW_CONFIG: '' } });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('no devices');
    const again = await cli(['-c', join(tmp.dir, 'config', 'furrow.yaml'), 'init']);
    expect(again.stdout).toMatch(/^already there: database /);
  });

  it('lets a verb that adds something create the database', async () => {
    const file = writeConfig(tmp.dir);
    const add = await cli(['-c', file, 'devices', 'add', 'probe-1', '--product', 'soil-probe']);
    expect(add.code, add.stderr).toBe(0);
    expect(existsSync(join(tmp.dir, 'data', 'furrow.db'))).toBe(true);
  });
});

describe('furrow devices remove', () => {
  it('refuses while the device downloads, removes it with --force, cancels its rollout membership and queues the retained-topic clearing', async () => {
    const file = writeConfig(tmp.dir, 'mqtt: { url: "mqtt://127.0.0.1:9" }\n');
    const s = seedDataDir(join(tmp.dir, 'data'), { devices: ['probe-1', 'probe-2'] });
    const rollout = join(tmp.dir, 'r.yaml');
    writeFileSync(rollout, 'id: r1\nrelease: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n');
    expect((await cli(['-c', file, 'rollout', 'apply', '--yes', rollout])).code).toBe(0);
    const db = openDatabase(join(tmp.dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    const now = Date.now();
    db.prepare("INSERT INTO transfers (device_id, patch_id, size, offset, state, started_at, last_seen_at) VALUES ('probe-1', ?, ?, 1024, 'active', ?, ?)").run(s.patchId, s.patch.length, now, now);
    db.prepare("UPDATE rollout_devices SET state = 'downloading' WHERE device_id = 'probe-1'").run();

    const busy = await cli(['-c', file, 'devices', 'remove', 'probe-1']);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`device probe-1 is downloading (patch ${s.patchId.slice(0, 12)}, 1024 of ${s.patch.length} bytes)`);
    expect(busy.stderr).toContain('add --force');
    expect(db.prepare("SELECT count(*) FROM devices WHERE id = 'probe-1'").pluck().get()).toBe(1);

    const forced = await cli(['-c', file, 'devices', 'remove', 'probe-1', '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ deviceId: 'probe-1', cancelledMemberships: 1, clearedTopics: ['furrow/gw-life/devices/probe-1/state', 'furrow/gw-life/devices/probe-1/result'], daemonRunning: false });
    expect(db.prepare("SELECT count(*) FROM devices WHERE id = 'probe-1'").pluck().get()).toBe(0);
    expect(db.prepare("SELECT count(*) FROM transfers WHERE device_id = 'probe-1'").pluck().get()).toBe(0);
    expect(db.prepare("SELECT state, reason FROM rollout_devices WHERE device_id = 'probe-1'").get()).toEqual({ state: 'cancelled', reason: 'device removed' });
    expect(db.prepare("SELECT topic, payload, retain, kind FROM outbox ORDER BY seq").all()).toEqual([
      { topic: 'furrow/gw-life/devices/probe-1/state', payload: '', retain: 1, kind: 'result' },
      { topic: 'furrow/gw-life/devices/probe-1/result', payload: '', retain: 1, kind: 'result' },
    ]);
    db.close();
    const unknown = await cli(['-c', file, 'devices', 'remove', 'probe-1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no device "probe-1"');
  });

  it("clears a removed device's retained topics on the broker once the daemon runs", async () => {
    const broker = await Mosquitto.start(tmp.dir, { persistent: false });
    const sub = await mqtt.connectAsync(broker.url, { clientId: 'lifecycle-test' });
    let daemon: DaemonProcess | undefined;
    try {
      const file = writeConfig(join(tmp.dir, 'gw'), `mqtt: { url: "${broker.url}", reconnectSeconds: 0.2 }\n`);
      seedDataDir(join(tmp.dir, 'gw', 'data'));
      const topic = 'furrow/gw-life/devices/probe-1/state';
      // What an earlier check-in left on the broker.
      await sub.publishAsync(topic, '{"seq":1,"type":"device.checkin"}', { qos: 1, retain: true });
      const retained = async () => {
        const c = await mqtt.connectAsync(broker.url);
        const got: string[] = [];
        c.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
        await c.subscribeAsync('furrow/gw-life/devices/#', { qos: 1 });
        await new Promise((r) => setTimeout(r, 300));
        await c.endAsync();
        return got;
      };
      expect(await retained()).toEqual([`${topic}={"seq":1,"type":"device.checkin"}`]);

      expect((await cli(['-c', file, 'devices', 'remove', 'probe-1'])).stdout).toContain('when the daemon next runs (queued in the outbox)');
      expect(await retained()).toHaveLength(1); // nothing publishes while the daemon is down

      daemon = DaemonProcess.start(['-c', file, 'start']);
      await daemon.waitForMsg('connected to the MQTT broker');
      await waitFor('the retained state of probe-1 to be cleared', async () => (await retained()).length === 0, 15_000);
    } finally {
      await daemon?.stop();
      await sub.endAsync();
      await broker.kill();
    }
  });
});

describe('furrow release remove and furrow gc', () => {
  it('refuses while a rollout and a patch need the release, says what --force removes, and gc then frees the files', async () => {
    const file = writeConfig(tmp.dir);
    const s = seedDataDir(join(tmp.dir, 'data'));
    const rollout = join(tmp.dir, 'r.yaml');
    writeFileSync(rollout, 'id: r1\nrelease: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n');
    expect((await cli(['-c', file, 'rollout', 'apply', '--yes', rollout])).code).toBe(0);

    const refused = await cli(['-c', file, 'release', 'remove', 'soil-probe', '1.1.0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('release soil-probe 1.1.0 is needed by:');
    expect(refused.stderr).toContain('rollout r1 (running)');
    expect(refused.stderr).toContain(`patch ${s.patchId.slice(0, 12)} 1.0.0 → 1.1.0 (format ≤ v1, ${s.patch.length} bytes)`);
    expect((await cli(['-c', file, 'release', 'show', 'soil-probe', '1.1.0'])).code).toBe(0);

    // Nothing is garbage yet: every blob is referenced.
    const before = await cli(['-c', file, 'gc', '--grace', '0', '--json']);
    expect(JSON.parse(before.stdout)).toMatchObject({ files: [], kept: 3 });

    const forced = await cli(['-c', file, 'release', 'remove', 'soil-probe', '1.1.0', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('removed release soil-probe 1.1.0');
    expect(forced.stdout).toContain('and rollout r1 (running) with its waves, members, history and multicast sessions');
    expect(forced.stdout).toContain('furrow gc --apply');
    expect((await cli(['-c', file, 'rollout', 'status', 'r1'])).code).toBe(2);
    expect(JSON.parse((await cli(['-c', file, 'delta', 'list', '--json'])).stdout)).toEqual([]);

    // The target image and the patch are unreferenced now; the base release still holds its image.
    const blob = (id: string) => join(tmp.dir, 'data', 'blobs', id.slice(0, 2), id);
    const dry = await cli(['-c', file, 'gc', '--grace', '0']);
    expect(dry.code, dry.stderr).toBe(0);
    const bytes = readFileSync(blob(s.targetSha256)).length + s.patch.length;
    expect(dry.stdout).toContain(`would delete 2 files, ${bytes} bytes`);
    expect(existsSync(blob(s.patchId))).toBe(true);
    // A file younger than the grace period may be a blob the daemon just wrote: left alone.
    expect((await cli(['-c', file, 'gc'])).stdout).toMatch(/nothing to collect \(1 blobs in use, 2 unreferenced but younger than 10 min\)/);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(blob(s.patchId), old, old);
    const tmpLeft = `${blob(s.baseSha256)}.0badf00d.tmp`;
    writeFileSync(tmpLeft, 'torn write');
    utimesSync(tmpLeft, old, old);

    const applied = await cli(['-c', file, 'gc', '--apply', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    const out = JSON.parse(applied.stdout) as { deleted: { files: number; bytes: number }; files: Array<{ kind: string }> };
    expect(out.deleted).toEqual({ files: 2, bytes: s.patch.length + 10 });
    expect(out.files.map((f) => f.kind).sort()).toEqual(['blob', 'temp']);
    expect(existsSync(blob(s.patchId))).toBe(false);
    expect(existsSync(tmpLeft)).toBe(false);
    expect(existsSync(blob(s.baseSha256))).toBe(true);
    expect(existsSync(blob(s.targetSha256))).toBe(true); // still young
    expect((await cli(['-c', file, 'release', 'remove', 'soil-probe', '9.9.9'])).stderr).toContain('no release soil-probe 9.9.9');
    const badGrace = await cli(['-c', file, 'gc', '--grace', 'soon']);
    expect(badGrace.code).toBe(2);
    expect(badGrace.stderr).toContain('--grace "soon": expected minutes 0..10080');
    const nowhere = await cli(['-c', file, 'backup', join(tmp.dir, 'no-such-dir', 'b.tar')]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain(`cannot write backup ${join(tmp.dir, 'no-such-dir', 'b.tar')}: `);
    expect(nowhere.stderr).toContain('hint: check that the directory exists and is writable');
  });

  it('removes a release nothing needs without --force', async () => {
    const file = writeConfig(tmp.dir);
    seedDataDir(join(tmp.dir, 'data'));
    const db = openDatabase(join(tmp.dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
    db.prepare('DELETE FROM patches').run();
    db.close();
    const r = await cli(['-c', file, 'release', 'remove', 'soil-probe', '1.0.0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ release: { product: 'soil-probe', version: '1.0.0' }, rollouts: [], patches: [] });
  });
});

