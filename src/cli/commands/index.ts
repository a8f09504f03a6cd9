import type { Command } from 'commander';
import { registerBackup } from './backup.ts';
import { registerConfig } from './config.ts';
import { registerDelta } from './delta.ts';
import { registerDemo } from './demo.ts';
import { registerDevices } from './devices.ts';
import { registerHttp } from './http.ts';
import { registerGc } from './gc.ts';
import { registerInit } from './init.ts';
import { registerKeys } from './keys.ts';
import { registerKeysGateway } from './keys-gateway.ts';
import { registerLora } from './lora.ts';
import { registerLwm2m } from './lwm2m.ts';
import { registerModem } from './modem.ts';
import { registerRelease } from './release.ts';
import { registerRemove } from './remove.ts';
import { registerRollout } from './rollout.ts';
import { registerSimulate } from './simulate.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';

/** Every verb of `furrow`, in the order `furrow --help` lists them. */
export const registrations: Array<(program: Command) => void> = [
  registerStart,
  registerStatus,
  registerInit,
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
  registerDemo,
  registerHttp,
  // After registerDevices and registerRelease: adds `devices remove` and `release remove` to them.
  registerRemove,
  registerGc,
  registerBackup,
  registerLwm2m,
];
