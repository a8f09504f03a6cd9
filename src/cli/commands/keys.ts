import type { Command } from 'commander';
import { generateKeyFiles } from '../../release/index.ts';
import { printJson } from '../context.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage signing keys');
  keys
    .command('generate <name>')
    .description('create an ES256 (P-256) key pair: <name>.pem (private, keep offline) and <name>.pub.pem')
    .addHelpText('after', '\nExample:\n  $ furrow keys generate vendor-release\n  then list vendor-release.pub.pem under releases.trustedKeys on the gateway')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { json?: boolean }) => {
      const k = generateKeyFiles(name);
      if (opts.json) return printJson(k);
      process.stdout.write(`private key ${k.privateFile} (mode 0600; keep it offline)\npublic key  ${k.publicFile}\nkey id      ${k.kid}\n`);
    });
}
