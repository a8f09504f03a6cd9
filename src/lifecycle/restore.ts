/**
 * `furrow restore`: unpacks a `furrow backup` archive into a temp dir beside the data dir, checks every file
 * against the manifest's SHA-256 (and every blob against its name), opens the database (integrity check,
 * migrations), and only then swaps it in with a rename. A failure at any step leaves the data dir as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, statSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FurrowError, InputError } from '../errors.ts';
import { openDatabase } from '../store/database.ts';
import { BACKUP_FORMAT, MANIFEST_NAME, type BackupManifest } from './backup.ts';
import { runningDaemonPid } from './daemon-pid.ts';
import { readTar } from './tar.ts';

/** The only paths a backup holds: anything else (`../x`, `/etc/...`, links) is refused before it is written. */
const ALLOWED = /^(furrow\.db|blobs\/[0-9a-f]{2}\/[0-9a-f]{64}|keys\/[A-Za-z0-9._-]{1,64})$/;
const MAX_MANIFEST = 64 << 20;

export interface RestoreResult {
  dataDir: string;
  files: number;
  bytes: number;
  schemaVersion: number;
  gateway: string;
  createdAt: string;
  /** Where the data dir that was replaced went (nothing is deleted). */
  movedAside: string | undefined;
}

export function restoreBackup(archive: string, dataDir: string, opts: { force: boolean; now: number }): RestoreResult {
  const pid = runningDaemonPid(dataDir);
  if (pid !== undefined) {
    throw new InputError('RESTORE_DAEMON_RUNNING', `a furrow daemon (pid ${pid}) runs on ${dataDir}`, {
      hint: 'stop it first (sudo systemctl stop furrow, or Ctrl-C), restore, then start it again',
    });
  }
  const hasDb = existsSync(join(dataDir, 'furrow.db'));
  if (hasDb && !opts.force) {
    throw new InputError('RESTORE_WOULD_REPLACE', `${dataDir} already holds a database`, {
      hint: 'add --force to move the current data dir aside (kept as <data dir>.before-restore-<time>) and restore in its place',
    });
  }
  let fd: number;
  try {
    fd = openSync(archive, 'r');
  } catch (err) {
    throw new InputError('BACKUP_UNREADABLE', `cannot read backup ${archive}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const tmp = `${dataDir}.restore-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(dirname(dataDir), { recursive: true });
    mkdirSync(tmp, { mode: 0o750 });
    const got = new Map<string, { size: number; sha256: string }>();
    let manifestText = '';
    readTar(fd, archive, (e) => {
      if (e.type === 'dir') return undefined;
      if (e.name === MANIFEST_NAME) {
        if (e.size > MAX_MANIFEST) throw new InputError('BACKUP_CORRUPT', `${archive}: ${MANIFEST_NAME} is ${e.size} bytes, too large to be a manifest`);
        const parts: Buffer[] = [];
        return (c) => {
          parts.push(Buffer.from(c));
          manifestText = Buffer.concat(parts).toString('utf8');
        };
      }
      if (!ALLOWED.test(e.name)) throw new InputError('BACKUP_CORRUPT', `${archive}: unexpected entry ${JSON.stringify(e.name)} (not a furrow backup, or tampered with)`);
      if (got.has(e.name)) throw new InputError('BACKUP_CORRUPT', `${archive}: ${e.name} appears twice`);
      const path = join(tmp, e.name);
      mkdirSync(dirname(path), { recursive: true });
      const out = openSync(path, 'wx', e.name.startsWith('keys/') ? 0o600 : 0o640);
      const hash = createHash('sha256');
      got.set(e.name, { size: e.size, sha256: '' });
      let written = 0;
      const finish = () => {
        fsyncSync(out);
        closeSync(out);
        got.set(e.name, { size: written, sha256: hash.digest('hex') });
      };
      if (e.size === 0) {
        finish();
        return undefined;
      }
      return (c) => {
        writeSync(out, c);
        hash.update(c);
        written += c.length;
        if (written === e.size) finish();
      };
    });
    closeSync(fd);
    const manifest = checkManifest(archive, manifestText, got);
    // Integrity check and migrations (a backup from an older furrow is brought up to this one's schema).
    const db = openDatabase(join(tmp, 'furrow.db'));
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    // Run as root (restore renames inside /var/lib), the files would be root's and the daemon's user could
    // not write them: they get the owner of the data dir they replace.
    if (process.getuid?.() === 0 && existsSync(dataDir)) {
      const { uid, gid } = statSync(dataDir);
      chownTree(tmp, uid, gid);
    }
    let movedAside: string | undefined;
    if (existsSync(dataDir)) {
      if (readdirSync(dataDir).length === 0) rmdirSync(dataDir);
      else {
        movedAside = `${dataDir}.before-restore-${new Date(opts.now).toISOString().replace(/[:.]/g, '-')}`;
        renameSync(dataDir, movedAside);
      }
    }
    renameSync(tmp, dataDir);
    const parent = openSync(dirname(dataDir), 'r');
    try {
      fsyncSync(parent);
    } finally {
      closeSync(parent);
    }
    const bytes = [...got.values()].reduce((a, f) => a + f.size, 0);
    return { dataDir, files: got.size, bytes, schemaVersion, gateway: manifest.gateway, createdAt: manifest.createdAt, movedAside };
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    rmSync(tmp, { recursive: true, force: true });
    if (err instanceof FurrowError) throw err;
    throw new FurrowError('RESTORE_FAILED', `cannot restore ${archive} into ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: `nothing in ${dataDir} was changed; restore writes a temp dir beside it, in ${dirname(dataDir)}, so run it as a user who may write there`,
      cause: err,
    });
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

function checkManifest(archive: string, text: string, got: Map<string, { size: number; sha256: string }>): BackupManifest {
  const bad = (msg: string) => new InputError('BACKUP_CORRUPT', `${archive}: ${msg}`, { hint: 'the backup is damaged or incomplete; nothing was restored; use another backup' });
  if (!text) throw bad(`no ${MANIFEST_NAME} (not a furrow backup, or cut short)`);
  let m: BackupManifest;
  try {
    m = JSON.parse(text) as BackupManifest;
  } catch {
    throw bad(`${MANIFEST_NAME} is not valid JSON`);
  }
  if (m.format !== BACKUP_FORMAT || m.version !== 1 || !Array.isArray(m.files)) throw bad(`${MANIFEST_NAME} is not a furrow backup manifest of version 1`);
  const listed = new Set<string>();
  for (const f of m.files) {
    listed.add(f.name);
    const g = got.get(f.name);
    if (!g) throw bad(`${f.name} is listed in the manifest but missing from the archive`);
    if (g.size !== f.size || g.sha256 !== f.sha256) throw bad(`${f.name} does not match its SHA-256 in the manifest (${g.sha256.slice(0, 12)} ≠ ${String(f.sha256).slice(0, 12)})`);
    if (f.name.startsWith('blobs/') && g.sha256 !== basename(f.name)) throw bad(`blob ${basename(f.name).slice(0, 12)} does not hash to its name`);
  }
  for (const name of got.keys()) if (!listed.has(name)) throw bad(`${name} is in the archive but not in the manifest`);
  if (!got.has('furrow.db')) throw bad('no furrow.db in the archive');
  return m;
}
