import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { configSchema, discoverConfig, loadConfig } from '../../config/index.ts';
import { looksLikeRollout, parseRolloutText } from '../../rollout/load.ts';
import { globalOptions } from '../context.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check and inspect configuration');
  config
    .command('check [file]')
    .description('validate a config file or a rollout file and report every problem at once (file:line:col)')
    .option('--print', 'print the effective config (defaults filled in) as JSON')
    .addHelpText('after', '\nExamples:\n  $ furrow config check config/furrow.yaml\n  $ furrow config check config/rollouts/soil-probe-1.4.2.yaml   # a rollout file: checked against the rollout schema')
    .action((file: string | undefined, opts: { print?: boolean }, cmd: Command) => {
      const path = file ?? discoverConfig({ flag: globalOptions(cmd).config }).file;
      if (file !== undefined && isRolloutFile(path)) {
        // Only the file: whether its release and devices exist is `furrow rollout plan`'s question.
        const spec = parseRolloutText(readFileSync(path, 'utf8'), path);
        if (opts.print) process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
        else process.stdout.write(`${resolve(path)}: ok (rollout ${spec.id}; \`furrow rollout plan ${path}\` checks it against the gateway's releases and devices)\n`);
        return;
      }
      const loaded = loadConfig(path);
      if (opts.print) process.stdout.write(JSON.stringify(loaded.config, null, 2) + '\n');
      else process.stdout.write(`${loaded.file}: ok\n`);
    });
}

function isRolloutFile(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false; // loadConfig reports the unreadable file
  }
  return looksLikeRollout(text, Object.keys(configSchema.shape));
}
