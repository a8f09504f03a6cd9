/**
 * journald severity: the real daemon under a journal stream starts each JSON line with the sd-daemon(3)
 * `<N>` syslog priority of its pino level, so `journalctl -p warning` shows warnings and errors only.
 * Where a real systemd-journald can run (root, package systemd) it is started here in its own journal
 * namespace, the daemon's stdout is connected to that journald's stdout socket exactly as systemd does for
 * a unit (with $JOURNAL_STREAM naming that socket), and the severities are read back with journalctl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, fstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, FURROW_BIN, freeUdpPort, REPO_ROOT } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

const JOURNALD = '/lib/systemd/systemd-journald';
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

describe('log severity for journald', () => {
  let tmp: ReturnType<typeof tempDir>;
  let daemon: DaemonProcess | undefined;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    tmp.cleanup();
  });

  async function config(dataDir = 'data', extra = ''): Promise<string> {
    const file = join(tmp.dir, 'furrow.yaml');
    writeFileSync(file, `gateway: { id: test-gw }\ndata: { dir: ${JSON.stringify(join(tmp.dir, dataDir))} }\nreleases: { allowUnsigned: true }\ncoap: { host: 127.0.0.1, port: ${await freeUdpPort()} }\nmetrics: { port: 0 }\n${extra}`);
    return file;
  }

  /** Makes the running daemon log an error (a bad file on SIGHUP) and a warning (data.dir changed on SIGHUP). */
  async function errorAndWarning(proc: ChildProcess, file: string, wait: (msg: RegExp) => Promise<unknown>): Promise<void> {
    writeFileSync(file, 'coap:\n  port: "not a port"\n');
    proc.kill('SIGHUP');
    await wait(/reload rejected; keeping the running config/);
    await config('elsewhere');
    proc.kill('SIGHUP');
    await wait(/data\.dir changed/);
  }

  it('prefixes every line with the syslog priority of its level under --syslog-prefix', async () => {
    const file = await config();
    daemon = DaemonProcess.start(['--config', file, 'start', '--syslog-prefix', '--log-level', 'debug']);
    await daemon.waitForMsg('furrow started');
    await errorAndWarning(daemon.proc, file, (m) => daemon!.waitForMsg(m));
    expect((await daemon.stop()).code).toBe(0);

    expect(daemon.raw.length).toBe(daemon.lines.length);
    for (const [i, raw] of daemon.raw.entries()) {
      const m = /^<([0-7])>\{"level":(\d+),/.exec(raw);
      expect(m, raw).not.toBeNull();
      expect(Number(m![1]), raw).toBe(PRIORITY[daemon.lines[i]!.level]);
    }
    const levels = new Set(daemon.raw.map((r) => r.slice(0, 3)));
    expect([...levels].sort()).toEqual(['<3>', '<4>', '<6>', '<7>']);
  });

  it('writes plain JSON lines into a pipe even when $JOURNAL_STREAM is inherited from a unit', async () => {
    const file = await config();
    // A value systemd could have set, naming some other file than this pipe.
    const st = fstatSync(0);
    daemon = DaemonProcess.start(['--config', file, 'start'], { env: { JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
    await daemon.waitForMsg('furrow started');
    expect((await daemon.stop()).code).toBe(0);
    expect(daemon.raw.every((r) => r.startsWith('{"level":'))).toBe(true);
  });

  let journald: ChildProcess | undefined;
  let journaldDaemon: ChildProcess | undefined;
  let namespace = '';
  afterEach(async () => {
    if (journaldDaemon && journaldDaemon.exitCode === null) {
      journaldDaemon.kill('SIGTERM');
      await new Promise((r) => journaldDaemon!.once('exit', r));
    }
    journaldDaemon = undefined;
    if (journald && journald.exitCode === null) {
      journald.kill('SIGTERM');
      await new Promise((r) => journald!.once('exit', r));
    }
    journald = undefined;
    if (namespace) {
      // The namespace's sockets and journal files are all this test leaves outside its temp dir.
      const machine = readFileSync('/etc/machine-id', 'utf8').trim();
      for (const d of [`/run/systemd/journal.${namespace}`, `/var/log/journal/${machine}.${namespace}`, `/run/log/journal/${machine}.${namespace}`]) rmSync(d, { recursive: true, force: true });
      namespace = '';
    }
  });

  it.runIf(process.getuid?.() === 0 && existsSync(JOURNALD))(
    'reaches a real journald at its severity: journalctl -p warning shows the warning and the error, not the info lines',
    async () => {
      namespace = `furrowtest${process.pid}${Math.floor(Math.random() * 1e6)}`;
      journald = spawn(JOURNALD, [namespace], { stdio: ['ignore', 'ignore', 'pipe'] });
      const sockPath = `/run/systemd/journal.${namespace}/stdout`;
      for (let i = 0; i < 100 && !existsSync(sockPath); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(sockPath), `${JOURNALD} ${namespace} did not create ${sockPath}`).toBe(true);

      // What systemd does for StandardOutput=journal: a stream connection with a header (journald's
      // stdout protocol: identifier, unit, default priority, level prefix on, no forwarding), handed to
      // the process as fd 1, and $JOURNAL_STREAM set to that socket's device:inode.
      const sock: Socket = connect(sockPath);
      await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
      await new Promise<void>((r) => sock.write('furrow\n\n6\n1\n0\n0\n0\n', () => r()));
      const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
      const st = fstatSync(fd);
      const file = await config();
      journaldDaemon = spawn(process.execPath, [FURROW_BIN, '--config', file, 'start'], {
        cwd: REPO_ROOT,
        env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
        stdio: ['ignore', sock, 'pipe'],
      });
      sock.destroy(); // the child holds its own copy
      const journal = (prio: string) => {
        const r = spawnSync('journalctl', [`--namespace=${namespace}`, '-o', 'json', '--no-pager', '-p', prio, 'SYSLOG_IDENTIFIER=furrow'], { encoding: 'utf8' });
        return r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { MESSAGE: string; PRIORITY: string; SYSLOG_IDENTIFIER?: string });
      };
      const waitJournal = async (msg: RegExp, prio = 'debug') => {
        for (let i = 0; i < 300; i++) {
          if (journal(prio).some((e) => msg.test(e.MESSAGE))) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`no journal entry matching ${msg}; have: ${journal('debug').map((e) => e.MESSAGE).join('\n')}`);
      };
      await waitJournal(/"msg":"furrow started"/);
      await errorAndWarning(journaldDaemon, file, (m) => waitJournal(m));

      const all = journal('debug');
      const warnings = journal('warning');
      expect(all.every((e) => e.MESSAGE.startsWith('{"level":')), 'journald stripped every <N> prefix').toBe(true);
      expect(warnings.map((e) => [JSON.parse(e.MESSAGE).msg, e.PRIORITY])).toEqual([
        ['reload rejected; keeping the running config', '3'],
        ['data.dir changed: takes effect only after a restart; keeping the running config', '4'],
      ]);
      expect(all.find((e) => e.MESSAGE.includes('"msg":"furrow started"'))?.PRIORITY).toBe('6');
      expect(all.length).toBeGreaterThan(warnings.length);
    },
  );
});
