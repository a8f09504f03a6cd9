import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** Human-readable output (pino-pretty) instead of JSON lines. */
  pretty?: boolean;
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
  if (opts.destination) return pino({ level }, opts.destination as pino.DestinationStream);
  return pino({ level });
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
