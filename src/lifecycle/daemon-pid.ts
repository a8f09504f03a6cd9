import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `<data.dir>/furrow.pid`: which process runs a daemon on this data dir (restore must not pull it away). */
export function pidFilePath(dataDir: string): string {
  return join(dataDir, 'furrow.pid');
}

export function writePidFile(dataDir: string, pid = process.pid): void {
  writeFileSync(pidFilePath(dataDir), `${pid}\n`);
}

/** Removes the file only if it is still ours (a second daemon refused at start must not remove the first's). */
export function removePidFile(dataDir: string, pid = process.pid): void {
  if (readPid(dataDir) === pid) rmSync(pidFilePath(dataDir), { force: true });
}

function readPid(dataDir: string): number | undefined {
  try {
    const n = Number(readFileSync(pidFilePath(dataDir), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of a live daemon on this data dir; a file left by a killed daemon (dead pid) does not count. */
export function runningDaemonPid(dataDir: string): number | undefined {
  const pid = readPid(dataDir);
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
