import type { Command } from 'commander';
import { Daemon } from '../../daemon.ts';
import { errorMessage } from '../../errors.ts';
import { createLogger, journalLogging } from '../../log.ts';
import { loadCliConfig } from '../context.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the gateway daemon in the foreground (Ctrl-C or SIGTERM stops it cleanly; SIGHUP reloads the config)')
    .option('--pretty', 'human-readable logs instead of JSON lines')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .option('--syslog-prefix', 'start each log line with its syslog priority <N> for journald (on by itself when stdout is the journal: $JOURNAL_STREAM)')
    .addHelpText('after', '\nExamples:\n  $ furrow start --pretty\n  $ furrow --config /etc/furrow/furrow.yaml start')
    .action(async (opts: { pretty?: boolean; logLevel?: string; syslogPrefix?: boolean }, cmd: Command) => {
      const loaded = loadCliConfig(cmd);
      const log = createLogger({
        level: opts.logLevel ?? loaded.config.log.level,
        pretty: opts.pretty ?? loaded.config.log.pretty,
        syslogPrefix: opts.syslogPrefix ?? journalLogging(),
      });
      const daemon = new Daemon(loaded, { log });
      // Signal handlers go in before start: a SIGTERM or SIGHUP that arrives while the services start
      // (systemd stopping a slow start, a test reloading right after "furrow started" is printed) would
      // otherwise meet Node's default action and kill the process without a clean stop.
      let started = false;
      let stopRequested: string | undefined;
      let reloadRequested = false;
      let stop: (signal: string) => void = (signal) => (stopRequested ??= signal);
      const reload = () => {
        log.info({ module: 'daemon', signal: 'SIGHUP' }, 'reloading config');
        void daemon.reload();
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => (started ? reload() : (reloadRequested = true)));
      await daemon.start();
      started = true;
      // The daemon lives until a signal stops it, even when no service holds a socket or timer open.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await new Promise<void>((resolveDone) => {
        let stopping = false;
        stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          log.info({ module: 'daemon', signal }, 'stopping');
          daemon.stop().then(resolveDone, (err: unknown) => {
            log.error({ module: 'daemon', error: errorMessage(err) }, 'stop failed');
            process.exitCode = 1;
            resolveDone();
          });
        };
        if (stopRequested) stop(stopRequested);
        else if (reloadRequested) reload();
      });
      clearInterval(keepAlive);
      log.flush?.();
      // Everything is stopped and flushed. A handle some library leaves open (a native build finishing
      // on a worker, a socket closing slowly) must not keep a stopped daemon around for systemd to kill.
      setTimeout(() => process.exit(), 2000).unref();
    });
}
