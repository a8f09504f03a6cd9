import { fstatSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Human-readable output (pino-pretty) instead of JSON lines. */
  pretty?: boolean;
  /**
   * Start each JSON line with the sd-daemon(3) `<N>` syslog priority, so journald stores the line at
   * that severity (`journalctl -p warning`) instead of all at info. For stdout connected to the journal
   * (`journalLogging()`); the unit sets SyslogLevelPrefix=true, journald's default, which strips it.
   */
  syslogPrefix?: boolean;
  /** Where JSON lines go; defaults to stdout. Tests pass a stream to capture them. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (opts.pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: useColour(process.stdout, process.env), translateTime: 'SYS:standard', ignore: 'pid,hostname' } },
    });
  }
  if (!opts.syslogPrefix) return opts.destination ? pino({ level }, opts.destination as DestinationStream) : pino({ level });
  return pino({ level }, syslogPrefixed(opts.destination ? (opts.destination as DestinationStream) : pino.destination({ dest: 1, sync: true })));
}

/** pino's level → syslog priority (RFC 5424 6.2.1): fatal crit, error err, warn warning, info info, debug/trace debug. */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

function syslogPrefixed(dest: DestinationStream): DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  return {
    write(line: string) {
      // pino writes the level first: {"level":30,...
      const m = /^\{"level":(\d+)/.exec(line);
      dest.write(`<${syslogPriority(m ? Number(m[1]) : 30)}>${line}`);
    },
    flush(cb) {
      const d = dest as { flushSync?: () => void };
      try {
        d.flushSync?.();
        cb?.();
      } catch (err) {
        cb?.(err as Error);
      }
    },
  };
}

/**
 * True when stdout is the journal stream systemd set up for this process: $JOURNAL_STREAM names its
 * device and inode (systemd.exec(5)), compared against fd 1 so a child that inherited the variable but
 * writes into a pipe is not taken for it.
 */
export function journalLogging(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * Colour only for a person at a terminal: never into a file or pipe, and never when NO_COLOR is set to
 * anything (https://no-color.org).
 */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

/** A logger that drops everything; for CLI one-shots and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
