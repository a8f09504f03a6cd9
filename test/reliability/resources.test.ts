/**
 * Resources: a full SD card and a database locked by another process.
 *
 * Disk full runs on a real small filesystem: a 3 MB tmpfs mounted here (root), or, without root, the
 * same inside a user+mount namespace (`unshare -rm`, util-linux). The scenario itself is one child
 * process (fixtures/disk-full-scenario.ts) so both ways run the same code.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort, REPO_ROOT } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

const SCENARIO = resolve(import.meta.dirname, 'fixtures/disk-full-scenario.ts');
const TSX = resolve(REPO_ROOT, 'node_modules/.bin/tsx');

function canMountHere(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'furrow-mnt-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
  if (r.status === 0) spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return r.status === 0;
}

/** Runs the scenario on a fresh 3 MB filesystem; returns its JSON report and how the disk was made. */
function runDiskFull(): { report: Record<string, any>; how: string } {
  const mnt = mkdtempSync(join(tmpdir(), 'furrow-full-'));
  try {
    let out: string;
    let how: string;
    if (canMountHere()) {
      how = 'tmpfs size=3m (mounted as root)';
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
      try {
        mkdirSync(join(mnt, 'tmp'));
        out = execFileSync(TSX, [SCENARIO, mnt], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
      } finally {
        spawnSync('umount', [mnt]);
      }
    } else {
      how = 'tmpfs size=3m in a user+mount namespace (unshare -rm)';
      const sh = `mount -t tmpfs -o size=3m tmpfs "$1" && mkdir "$1/tmp" && exec "$2" "$3" "$1"`;
      const r = spawnSync('unshare', ['-rm', 'sh', '-c', sh, 'sh', mnt, TSX, SCENARIO], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
      if (r.error || r.status !== 0) {
        throw new Error(`cannot make a small filesystem: not root and \`unshare -rm\` failed (${r.error?.message ?? r.stderr}); install util-linux and allow unprivileged user namespaces, or run as root`);
      }
      out = r.stdout;
    }
    return { report: JSON.parse(out.trim().split('\n').at(-1)!), how };
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
}

describe('resources', () => {
  it('reports a full disk clearly while storing a patch, building a patch and writing the DB, corrupts nothing, and recovers when space returns', () => {
    const { report: r, how } = runDiskFull();
    console.log(`disk full (${how}): ${JSON.stringify(r)}`);
    // Storing a patch blob: a FurrowError that says the disk is full, no temp file left, older blobs intact.
    expect(r.blobFull).toMatchObject({ ok: false, name: 'FurrowError', code: 'BLOB_WRITE' });
    expect(r.blobFull.message).toMatch(/ENOSPC/);
    expect(r.blobFull.hint).toMatch(/disk is full/);
    expect(r.tmpFilesLeft).toBe(0);
    expect(r.keepBlobIntact).toBe(true);
    // Building a patch: refused with a typed error, and no patch row points at a missing blob.
    expect(r.buildFull.ok).toBe(false);
    expect(r.buildFull.message).toMatch(/ENOSPC|disk is full|no space/i);
    expect(r.danglingPatchRows).toBe(0);
    // The DB: SQLITE_FULL, nothing half-written, integrity intact.
    expect(r.dbFull).toMatchObject({ ok: false, code: 'SQLITE_FULL' });
    expect(r.devicesAfterFull).toBe(r.devicesExpected);
    expect(r.integrityAfterFull).toEqual(['ok']);
    // The daemon on a full disk: exit code 1 and a message that says so (not "restore from a backup").
    expect(r.daemonFull.status).toBe(1);
    expect(r.daemonFull.stderr).toMatch(/disk is full/);
    expect(r.daemonFull.stderr).not.toMatch(/restore it from a backup/);
    // Space returns: everything works again, outbox seq continues without a gap, the file reopens clean.
    expect(r.blobRecovered).toBe(true);
    expect(r.buildRecovered).toBe(true);
    expect(r.dbRecovered).toBe(true);
    expect(r.outboxSeqAfter).toBe(r.outboxSeqBefore + 1);
    expect(r.reopenedDevices).toBe(r.devicesExpected + 1);
    expect(r.reopenIntegrity).toEqual(['ok']);
  }, 120_000);

  describe('a database locked by another process', () => {
    const tmp = tempDir();
    afterAll(() => tmp.cleanup());

    /** A second process that takes an EXCLUSIVE transaction on the file and holds it for `ms`. */
    function holdExclusive(file: string, ms: number): Promise<{ released: Promise<void> }> {
      const code = `const D=require('better-sqlite3');const db=new D(process.argv[1]);db.pragma('busy_timeout=0');db.exec('BEGIN EXCLUSIVE');db.prepare("INSERT INTO devices (id, product, created_at) VALUES ('holder','p',0)").run();process.stdout.write('locked\\n');setTimeout(()=>{db.exec('COMMIT');db.close();process.exit(0)},${ms});`;
      const child = spawn(process.execPath, ['-e', code, file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      const released = new Promise<void>((r) => child.on('exit', () => r()));
      return new Promise((resolveLocked, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolveLocked({ released }));
        child.on('exit', (c) => c !== 0 && reject(new Error(`lock holder exited ${c}`)));
      });
    }

    it('waits within busy_timeout for a short lock and then writes', async () => {
      const file = join(tmp.dir, 'short.db');
      openDatabase(file).close();
      const { released } = await holdExclusive(file, 1500);
      // The holder's transaction is open now; this write must wait for it, not fail.
      const db = openDatabase(file);
      const t0 = process.hrtime.bigint();
      new DeviceRepo(db).add({ id: 'mine', product: 'p' }, Date.now());
      const waitedMs = Number(process.hrtime.bigint() - t0) / 1e6;
      await released;
      expect(new DeviceRepo(db).count()).toBe(2);
      expect(waitedMs).toBeGreaterThan(500);
      db.close();
    });

    it('fails with SQLITE_BUSY "database is locked" when the lock outlives busy_timeout, and writes once it is gone', async () => {
      const file = join(tmp.dir, 'long.db');
      openDatabase(file).close();
      const { released } = await holdExclusive(file, 6500);
      const db = openDatabase(file);
      let err: unknown;
      try {
        new DeviceRepo(db).add({ id: 'mine', product: 'p' }, Date.now());
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'SQLITE_BUSY' });
      expect((err as Error).message).toMatch(/locked/);
      await released;
      new DeviceRepo(db).add({ id: 'mine', product: 'p' }, Date.now());
      expect(new DeviceRepo(db).count()).toBe(2);
      expect((db.pragma('integrity_check') as Array<{ integrity_check: string }>)[0]!.integrity_check).toBe('ok');
      db.close();
    }, 30_000);

    it('starts the real daemon while another process holds the DB lock for a moment', async () => {
      const dir = join(tmp.dir, 'daemon');
      mkdirSync(dir);
      const env = { FURROW_DATA_DIR: dir, FURROW_COAP_PORT: String(await freeUdpPort()), FURROW_METRICS_PORT: String(await freeTcpPort()), FURROW_LOG_LEVEL: 'info', FURROW_COAP_HOST: '127.0.0.1' };
      const first = DaemonProcess.start(['start'], { env });
      await first.waitForMsg('furrow started');
      await first.stop();
      const { released } = await holdExclusive(join(dir, 'furrow.db'), 2000);
      const d = DaemonProcess.start(['start'], { env });
      await d.waitForMsg('furrow started', 30_000);
      await released;
      const r = await d.stop();
      expect(r.code).toBe(0);
    }, 60_000);
  });
});
