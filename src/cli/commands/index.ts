import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerDevices } from './devices.ts';
import { registerKeys } from './keys.ts';
import { registerKeysGateway } from './keys-gateway.ts';
import { registerRelease } from './release.ts';
import { registerStart } from './start.ts';

/** Every verb of `furrow`, in the order `furrow --help` lists them. */
export const registrations: Array<(program: Command) => void> = [
  registerStart,
  registerConfig,
  registerRelease,
  registerKeys,
  // After registerKeys: adds `keys gateway` to the same `keys` command.
  registerKeysGateway,
  registerDevices,
];
