/**
 * Resources: a full SD card and a database locked by another process.
 *
 * Disk full runs on a real small filesystem: a 3 MB tmpfs mounted here (root), or, without root, the
 * same inside a user+mount namespace (`unshare -rm`, util-linux); where neither works, under an 8 MiB
 * RLIMIT_FSIZE (`prlimit`), which proves less (a per-file limit: EFBIG, and a small patch build still
 * fits). The scenario itself is one child process (fixtures/disk-full-scenario.ts) so every way runs
 * the same code; the test prints which one it used.
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

function parseReport(out: string): Record<string, any> {
  return JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!);
}

function canMountHere(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'furrow-mnt-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
  if (r.status === 0) spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
  return r.status === 0;
}

/**
 * Last resort without root or user namespaces: RLIMIT_FSIZE of 8 MiB (soft; hard unlimited) via
 * util-linux `prlimit`; writes past it fail with EFBIG (Node ignores SIGXFSZ). "Space returns" is the
 * parent lifting the limit with `prlimit --pid` when the child asks for it.
 */
async function runUnderFsizeLimit(dir: string): Promise<string> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const child = spawn('prlimit', ['--fsize=8388608:unlimited', '--', process.execPath, '--import', 'tsx', SCENARIO, dir, 'fsize'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const done = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('NEED_SPACE\n') && !out.includes('LIFTED')) {
      out += 'LIFTED\n';
      execFileSync('prlimit', ['--pid', String(child.pid), '--fsize=unlimited:unlimited']);
      child.stdin.write('go\n');
    }
  });
  const code = await done;
  if (code !== 0) throw new Error(`disk-full scenario under RLIMIT_FSIZE exited ${code}: ${out}`);
  return out;
}

async function forcedFsize(): Promise<{ report: Record<string, any>; how: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-fsize-'));
  try {
    return { report: parseReport(await runUnderFsizeLimit(dir)), how: 'RLIMIT_FSIZE 8 MiB via prlimit (forced by FURROW_DISK_FULL_MODE)' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the scenario on a fresh 3 MB filesystem; returns its JSON report and how the disk was made. */
async function runDiskFull(): Promise<{ report: Record<string, any>; how: string }> {
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
        how = `RLIMIT_FSIZE 8 MiB via prlimit (no root, and unshare -rm failed: ${(r.error?.message ?? r.stderr).trim().slice(0, 120)})`;
        out = await runUnderFsizeLimit(mnt);
      } else out = r.stdout;
    }
    return { report: parseReport(out), how };
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
}

describe('resources', () => {
  it('reports a full disk clearly while storing a patch, building a patch and writing the DB, corrupts nothing, and recovers when space returns', async () => {
    // FURROW_DISK_FULL_MODE=fsize forces the last-resort path (to check it where tmpfs works).
    const { report: r, how } = process.env.FURROW_DISK_FULL_MODE === 'fsize' ? await forcedFsize() : await runDiskFull();
    const fsize = r.mode === 'fsize';
    console.log(`disk full (${how}): ${JSON.stringify(r)}`);
    // Storing a patch blob: a FurrowError that says the disk is full, no temp file left, older blobs intact.
    expect(r.blobFull).toMatchObject({ ok: false, name: 'FurrowError', code: 'BLOB_WRITE' });
    expect(r.blobFull.message).toMatch(fsize ? /EFBIG/ : /ENOSPC/);
    if (!fsize) expect(r.blobFull.hint).toMatch(/disk is full/);
    expect(r.tmpFilesLeft).toBe(0);
    expect(r.keepBlobIntact).toBe(true);
    // Building a patch: refused with a typed error, and no patch row points at a missing blob.
    // (A per-file size limit cannot stop a small patch; only a full filesystem can.)
    if (!fsize) {
      expect(r.buildFull.ok).toBe(false);
      expect(r.buildFull.message).toMatch(/ENOSPC|disk is full|no space/i);
    }
    expect(r.danglingPatchRows).toBe(0);
    // The DB: SQLITE_FULL, nothing half-written, integrity intact.
    // SQLite reports EFBIG (the RLIMIT_FSIZE stand-in) as an I/O error, ENOSPC as SQLITE_FULL.
    expect(r.dbFull).toMatchObject({ ok: false, code: fsize ? expect.stringMatching(/^SQLITE_(FULL|IOERR)/) : 'SQLITE_FULL' });
    expect(r.devicesAfterFull).toBe(r.devicesExpected);
    expect(r.integrityAfterFull).toEqual(['ok']);
    // The daemon on a full disk: exit code 1 and a message that says so (not "restore from a backup").
    if (!fsize) {
      expect(r.daemonFull.status).toBe(1);
      expect(r.daemonFull.stderr).toMatch(/disk is full/);
      expect(r.daemonFull.stderr).not.toMatch(/restore it from a backup/);
    }
    // Space returns: everything works again, outbox seq continues without a gap, the file reopens clean.
    expect(r.blobRecovered).toBe(true);
    expect(r.buildRecovered).toBe(true);
    expect(r.dbRecovered).toBe(true);
    expect(r.outboxSeqAfter).toBe(r.outboxSeqBefore + 1);
    expect(r.reopenedDevices).toBe(r.devicesExpected + 1);
    expect(r.reopenIntegrity).toEqual(['ok']);
  }, 180_000);

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
