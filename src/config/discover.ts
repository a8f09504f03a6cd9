import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { EMBEDDED_CONFIG } from './load.ts';

/** Where furrow looks for its config when no file is named on the command line. */
export const SYSTEM_CONFIG = '/etc/furrow/furrow.yaml';

export interface FoundConfig {
  /** Absolute path of the config file to load. */
  file: string;
  /** How it was found, for messages: "--config", "FURROW_CONFIG", "./config/furrow.yaml", ... */
  source: string;
}

export interface DiscoverOptions {
  /** The --config argument, if given. */
  flag?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Tests point this elsewhere: /etc is the machine's, not theirs. */
  systemFile?: string;
}

/**
 * The config discovery order: `--config`, then `$FURROW_CONFIG`, then `./config/furrow.yaml` in the working
 * directory, then `/etc/furrow/furrow.yaml`, else the embedded default. A file named explicitly (flag or
 * environment) must exist: falling through to another config would run against the wrong database.
 */
export function discoverConfig(opts: DiscoverOptions = {}): FoundConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  if (opts.flag !== undefined) return { file: resolve(cwd, opts.flag), source: '--config' };
  const fromEnv = env.FURROW_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') {
    const file = resolve(cwd, fromEnv);
    if (!existsSync(file)) {
      throw new InputError('CONFIG_UNREADABLE', `FURROW_CONFIG=${fromEnv}: no such file ${file}`, {
        hint: 'point FURROW_CONFIG at an existing config file, or unset it to use ./config/furrow.yaml, /etc/furrow/furrow.yaml or the embedded default',
      });
    }
    return { file, source: 'FURROW_CONFIG' };
  }
  const local = resolve(cwd, 'config/furrow.yaml');
  if (existsSync(local)) return { file: local, source: './config/furrow.yaml in the working directory' };
  const system = opts.systemFile ?? SYSTEM_CONFIG;
  if (existsSync(system)) return { file: system, source: system };
  return { file: EMBEDDED_CONFIG, source: 'the embedded default (no --config, FURROW_CONFIG, ./config/furrow.yaml or /etc/furrow/furrow.yaml)' };
}

/** One line for help texts: the discovery order. */
export const DISCOVERY_ORDER = '--config, then $FURROW_CONFIG, then ./config/furrow.yaml, then /etc/furrow/furrow.yaml, else the embedded default';
