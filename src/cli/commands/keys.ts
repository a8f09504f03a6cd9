import { resolve } from 'node:path';
import type { Command } from 'commander';
import { generateKeyFiles } from '../../release/index.ts';
import { printJson } from '../context.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage signing keys');
  keys
    .command('generate <name>')
    .description('create an ES256 (P-256) key pair: <name>.pem (private, keep offline) and <name>.pub.pem, relative to the working directory')
    .addHelpText(
      'after',
      '\nExample:\n  $ furrow keys generate keys/vendor-release\n  then list the .pub.pem under releases.trustedKeys on the gateway; a relative path there is\n  resolved from the config file\'s folder (config/furrow.yaml lists ../keys/vendor-release.pub.pem)',
    )
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { json?: boolean }) => {
      const k = generateKeyFiles(name);
      if (opts.json) return printJson(k);
      process.stdout.write(
        `private key ${k.privateFile} (mode 0600; keep it offline)\npublic key  ${k.publicFile} (${resolve(k.publicFile)})\nkey id      ${k.kid}\n` +
          'gateways trust it when releases.trustedKeys lists the public key; relative entries there are resolved from the config file\'s folder\n',
      );
    });
}
