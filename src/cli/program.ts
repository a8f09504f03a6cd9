import { Command, CommanderError } from 'commander';
import { errorMessage, FurrowError } from '../errors.ts';
import { registrations } from './commands/index.ts';
import { DISCOVERY_ORDER } from '../config/index.ts';

const CONFIG_HELP = `config file (default: $FURROW_CONFIG, then ./config/furrow.yaml, then /etc/furrow/furrow.yaml, else the embedded default)`;

export function buildProgram(): Command {
  const program = new Command('furrow')
    .description('Delta OTA update gateway for ESP32 fleets on NB-IoT and LoRa')
    .version('0.1.0')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--verbose', 'say which config file and database the verb uses (on stderr)')
    .addHelpText('after', `\nConfig discovery: ${DISCOVERY_ORDER}.\nRelative paths in a config file (data.dir, key files) start at that file's directory.\nVerbs that only read refuse to create a missing database: run \`furrow init\` first.`)
    .showHelpAfterError('(run with --help for usage)')
    // Options before the verb belong to furrow, after it to the verb: `release add --version 1.2`
    // must not print furrow's own version.
    .enablePositionalOptions()
    .exitOverride();
  for (const register of registrations) register(program);
  for (const cmd of program.commands) prepare(cmd);
  return program;
}

/** Usage errors exit 2 (not commander's process.exit), and every verb also takes --config. */
function prepare(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError('(run with --help for usage)');
  if (cmd.commands.length === 0) {
    if (!cmd.options.some((o) => o.long === '--config')) cmd.option('-c, --config <file>', CONFIG_HELP);
    if (!cmd.options.some((o) => o.long === '--verbose')) cmd.option('--verbose', 'say which config file and database the verb uses (on stderr)');
  } else {
    cmd.enablePositionalOptions();
  }
  for (const sub of cmd.commands) prepare(sub);
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
