import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { dataPaths } from '../../daemon.ts';
import { InputError } from '../../errors.ts';
import { runningDaemonPid } from '../../lifecycle/daemon-pid.ts';
import { collectStatus, renderStatus, type StatusSnapshot } from '../../telemetry/index.ts';
import { loadCliConfig, openCliStore } from '../context.ts';

/** Where the running daemon of this config answers, or undefined when its HTTP listener is off. */
export function daemonStatusUrl(metrics: { host: string; port: number }): string | undefined {
  if (metrics.port === 0) return undefined;
  // A wildcard listen address is reached on loopback.
  const host = metrics.host === '0.0.0.0' ? '127.0.0.1' : metrics.host === '::' ? '::1' : metrics.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${metrics.port}/status`;
}

async function fromDaemon(url: string, timeoutMs: number): Promise<{ snapshot?: StatusSnapshot; why?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { why: `${url} answered HTTP ${res.status}` };
    return { snapshot: (await res.json()) as StatusSnapshot };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { why: `the daemon is not reachable at ${url} (${cause})` };
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("what the gateway is doing: rollouts, active transfers, modem, MQTT outbox (from the running daemon, else from the database)")
    .option('--json', 'print the snapshot as JSON (field "source" says where it came from)')
    .option('--timeout <ms>', 'how long to wait for the daemon before reading the database', '1500')
    .addHelpText('after', '\nExamples:\n  $ furrow status\n  $ furrow --config /etc/furrow/furrow.yaml status --json\n\nExit codes: 0 the daemon answered, 3 the daemon is down (the database\'s snapshot is printed), 2 no daemon and no database.')
    .action(async (opts: { json?: boolean; timeout: string }, cmd: Command) => {
      const timeoutMs = Number(opts.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
        throw new InputError('STATUS_TIMEOUT', `--timeout ${JSON.stringify(opts.timeout)}: expected milliseconds between 1 and 60000`);
      }
      const loaded = loadCliConfig(cmd);
      const url = daemonStatusUrl(loaded.config.metrics);
      let snapshot: StatusSnapshot | undefined;
      let note = url ? undefined : 'metrics.port is 0, so the daemon serves no status';
      if (url) {
        const r = await fromDaemon(url, timeoutMs);
        snapshot = r.snapshot;
        note = r.why;
      }
      if (!snapshot) {
        const db = dataPaths(loaded.config).db;
        if (!existsSync(db)) {
          throw new InputError('STATUS_NO_DATABASE', `${note ?? 'no daemon answered'}, and there is no database at ${db} (config ${loaded.file}, found via ${loaded.source})`, {
            hint: `start the daemon once with this config (furrow --config ${loaded.file} start) or run furrow init, or pass the config it runs with (--config or FURROW_CONFIG)`,
          });
        }
        const store = openCliStore(loaded);
        try {
          snapshot = collectStatus(store.db, { gatewayId: loaded.config.gateway.id, now: Date.now(), mqttEnabled: loaded.config.mqtt !== null });
        } finally {
          store.close();
        }
      }
      // 3 = the daemon is down (the snapshot printed is the database's), so scripts and monitors can tell.
      // Without a status endpoint (metrics.port 0) a live process named in <data.dir>/furrow.pid counts as running.
      if (snapshot.source !== 'daemon') {
        const pid = runningDaemonPid(dataPaths(loaded.config).dir);
        if (pid === undefined) process.exitCode = 3;
        else note = `${note ?? 'no status from the daemon'}; a daemon (pid ${pid}) runs on this data dir`;
      }
      if (opts.json) process.stdout.write(JSON.stringify(note && snapshot.source === 'database' ? { ...snapshot, note } : snapshot, null, 2) + '\n');
      else process.stdout.write(renderStatus(snapshot, note));
    });
}
