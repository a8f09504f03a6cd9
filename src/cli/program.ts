import { Command, CommanderError } from 'commander';
import { errorMessage, FurrowError } from '../errors.ts';
import { registrations } from './commands/index.ts';

export function buildProgram(): Command {
  const program = new Command('furrow')
    .description('Delta OTA update gateway for ESP32 fleets on NB-IoT and LoRa')
    .version('0.1.0')
    .option('-c, --config <file>', 'config file (default: ./config/furrow.yaml, else the embedded default)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of registrations) register(program);
  for (const cmd of program.commands) applyExitOverride(cmd);
  return program;
}

function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

/** Runs the CLI and returns the exit code: 0 ok, 1 runtime failure, 2 bad usage or input. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(`furrow: ${errorMessage(err)}\n`);
    if (err instanceof FurrowError) return err.exitCode;
    if (process.env.FURROW_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}
