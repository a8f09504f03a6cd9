import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerDelta } from './delta.ts';
import { registerDevices } from './devices.ts';
import { registerKeys } from './keys.ts';
import { registerKeysGateway } from './keys-gateway.ts';
import { registerLora } from './lora.ts';
import { registerLwm2m } from './lwm2m.ts';
import { registerModem } from './modem.ts';
import { registerRelease } from './release.ts';
import { registerRollout } from './rollout.ts';
import { registerSimulate } from './simulate.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';

/** Every verb of `furrow`, in the order `furrow --help` lists them. */
export const registrations: Array<(program: Command) => void> = [
  registerStart,
  registerStatus,
  registerConfig,
  registerRelease,
  registerDelta,
  registerKeys,
  // After registerKeys: adds `keys gateway` to the same `keys` command.
  registerKeysGateway,
  registerDevices,
  registerRollout,
  registerSimulate,
  registerModem,
  registerLora,
  registerLwm2m,
];
