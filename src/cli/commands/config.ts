import type { Command } from 'commander';
import { discoverConfig, loadConfig } from '../../config/index.ts';
import { globalOptions } from '../context.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check and inspect configuration');
  config
    .command('check [file]')
    .description('validate a config file and report every problem at once (file:line:col)')
    .option('--print', 'print the effective config (defaults filled in) as JSON')
    .addHelpText('after', '\nExample:\n  $ furrow config check config/furrow.yaml')
    .action((file: string | undefined, opts: { print?: boolean }, cmd: Command) => {
      const path = file ?? discoverConfig({ flag: globalOptions(cmd).config }).file;
      const loaded = loadConfig(path);
      if (opts.print) process.stdout.write(JSON.stringify(loaded.config, null, 2) + '\n');
      else process.stdout.write(`${loaded.file}: ok\n`);
    });
}
