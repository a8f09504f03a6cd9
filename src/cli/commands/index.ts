import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerKeys } from './keys.ts';
import { registerRelease } from './release.ts';
import { registerStart } from './start.ts';

/** Every verb of `furrow`, in the order `furrow --help` lists them. */
export const registrations: Array<(program: Command) => void> = [
  registerStart,
  registerConfig,
  registerRelease,
  registerKeys,
];
