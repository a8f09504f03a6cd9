import type { Config } from './config/index.ts';

/**
 * What the composition root (daemon.ts) knows about a module. Constructors only assign;
 * start() does the work; stop() undoes it and flushes state. The daemon stops services in reverse order.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Apply a new, already validated config. Throwing keeps the old config running. */
  reload?(config: Config): void | Promise<void>;
}
