/**
 * `npm run bench:backup`: `furrow backup` of a 10,000-device gateway (devices, a rollout with every device
 * as a member, a transfer and delivery token each, 20,000 outbox rows, three 1.5 MB release images and
 * their patches), against the reference tools on the same data dir in the same run: sqlite3's `.backup`
 * (database only) and `tar -cf` of the whole directory (not consistent with a running daemon). Target:
 * furrow backup < 2 s. Prints a markdown table (median of 3 runs).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backupDataDir } from '../../src/lifecycle/backup.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase } from '../../src/store/database.ts';
import { FURROW_BIN } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

const DEVICES = Number(process.env.BACKUP_BENCH_DEVICES ?? 10_000);
const RUNS = 3;

function seed(dir: string): void {
  const db = openDatabase(join(dir, 'furrow.db'));
  const blobs = new BlobStore(join(dir, 'blobs'));
  const now = Date.now();
  const shas: string[] = [];
  for (let i = 0; i < 3; i++) {
    const sha = blobs.put(randomBytes(1_500_000));
    shas.push(sha);
    db.prepare("INSERT INTO releases (sha256, product, version, size, chip, added_at) VALUES (?, 'soil-probe', ?, 1500000, 'esp32', ?)").run(sha, `1.${i}.0`, now + i);
  }
  const patchIds = [0, 1].map((i) => {
    const id = blobs.put(randomBytes(60_000));
    db.prepare("INSERT INTO patches (id, from_sha256, to_sha256, kind, size, format_version, created_at) VALUES (?, ?, ?, 'delta', 60000, 2, ?)").run(id, shas[i], shas[2], now);
    return id;
  });
  db.prepare("INSERT INTO rollouts (id, release_sha256, spec, state, created_at, updated_at) VALUES ('r1', ?, '{}', 'running', ?, ?)").run(shas[2], now, now);
  db.prepare("INSERT INTO rollout_waves (rollout_id, wave, name, size, state) VALUES ('r1', 0, 'all', ?, 'active')").run(DEVICES);
  const dev = db.prepare("INSERT INTO devices (id, product, labels, device_key, running_sha256, running_version, rsrp, bearer, created_at, last_seen_at) VALUES (?, 'soil-probe', '{\"field\":\"north\"}', ?, ?, '1.0.0', -101, 'udp', ?, ?)");
  const member = db.prepare("INSERT INTO rollout_devices (rollout_id, device_id, wave, rank, state, from_sha256, bytes, updated_at) VALUES ('r1', ?, 0, ?, 'downloading', ?, 60000, ?)");
  const transfer = db.prepare("INSERT INTO transfers (device_id, patch_id, size, offset, bytes_served, state, bearer, started_at, last_seen_at) VALUES (?, ?, 60000, ?, ?, 'active', 'udp', ?, ?)");
  const delivery = db.prepare('INSERT INTO deliveries (token, device_id, patch_id, release_sha256, size, manifest, created_at) VALUES (?, ?, ?, ?, 60000, ?, ?)');
  const outbox = db.prepare("INSERT INTO outbox (topic, payload, retain, kind, created_at) VALUES (?, ?, 1, 'progress', ?)");
  db.transaction(() => {
    for (let i = 0; i < DEVICES; i++) {
      const id = `probe-${i}`;
      dev.run(id, randomBytes(32), shas[i % 2], now, now);
      member.run(id, randomBytes(8).toString('hex'), shas[i % 2], now);
      transfer.run(id, patchIds[i % 2], (i * 1024) % 60000, (i * 1024) % 60000, now, now);
      delivery.run(randomBytes(12).toString('hex'), id, patchIds[i % 2], shas[2], randomBytes(180), now);
      for (let k = 0; k < 2; k++) outbox.run(`furrow/gw/devices/${id}/transfer`, JSON.stringify({ type: 'transfer.progress', data: { deviceId: id, offset: k * 1024, size: 60000 } }), now);
    }
  })();
  db.close();
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

async function main(): Promise<void> {
  const tmp = tempDir('furrow-bench-backup-');
  try {
    const dir = join(tmp.dir, 'data');
    const t0 = performance.now();
    seed(dir);
    const dbBytes = statSync(join(dir, 'furrow.db')).size;
    process.stdout.write(`seeded ${DEVICES} devices in ${((performance.now() - t0) / 1000).toFixed(1)} s: database ${(dbBytes / 1048576).toFixed(1)} MiB, 5 blobs\n\n`);

    const rows: Array<[string, number, number]> = [];
    // furrow backup, in process (what the verb does after loading its config): the same open as the CLI.
    const times: number[] = [];
    let size = 0;
    for (let r = 0; r < RUNS; r++) {
      const out = join(tmp.dir, `furrow-${r}.tar`);
      const db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
      const s = performance.now();
      await backupDataDir(db, { dir, blobs: join(dir, 'blobs') }, out, { gatewayId: 'gw', now: Date.now() });
      times.push(performance.now() - s);
      db.close();
      size = statSync(out).size;
      rmSync(out);
    }
    rows.push(['furrow backup (database + blobs + key, consistent while running)', median(times), size]);

    // The whole command as an operator runs it: process start-up, config, open, backup.
    const config = join(tmp.dir, 'furrow.yaml');
    writeFileSync(config, `data: { dir: ${JSON.stringify(dir)} }\n`);
    const ref = (label: string, cmd: string, args: (out: string) => string[], outName: string) => {
      const ts: number[] = [];
      let bytes = 0;
      for (let r = 0; r < RUNS; r++) {
        const out = join(tmp.dir, `${outName}-${r}`);
        const s = performance.now();
        execFileSync(cmd, args(out), { stdio: 'ignore' });
        ts.push(performance.now() - s);
        bytes = statSync(out).size;
        rmSync(out);
      }
      rows.push([label, median(ts), bytes]);
    };
    ref('furrow backup, whole CLI process (node bin/furrow.js, start-up included)', process.execPath, (out) => [FURROW_BIN, '-c', config, 'backup', out], 'cli.tar');
    ref('sqlite3 .backup (database only)', 'sqlite3', (out) => [join(dir, 'furrow.db'), `.backup '${out}'`], 'sqlite3.db');
    ref('tar -cf data dir (not consistent while running)', 'tar', (out) => ['-cf', out, '-C', dir, '.'], 'dir.tar');

    process.stdout.write('| tool | time (median of 3) | output |\n|---|---:|---:|\n');
    for (const [label, ms, bytes] of rows) process.stdout.write(`| ${label} | ${(ms / 1000).toFixed(3)} s | ${(bytes / 1048576).toFixed(1)} MiB |\n`);
    const furrow = rows[0]![1];
    process.stdout.write(`\ntarget: furrow backup of ${DEVICES} devices < 2 s: ${furrow < 2000 ? 'met' : 'MISSED'} (${(furrow / 1000).toFixed(3)} s)\n`);
    if (furrow >= 2000) process.exitCode = 1;
  } finally {
    tmp.cleanup();
  }
}

await main();
