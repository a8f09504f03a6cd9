import type { Command } from 'commander';
import { resolve } from 'node:path';
import { describeGatewayKey, loadOrCreateGatewayKey } from '../../manifest/gateway-key.ts';
import { loadCliConfig } from '../context.ts';

/** `furrow keys gateway`: the public half of the manifest signing key, for device provisioning. */
export function registerKeysGateway(program: Command): void {
  const keys = program.commands.find((c) => c.name() === 'keys') ?? program.command('keys').description('manage signing keys');
  keys
    .command('gateway')
    .description('print the gateway manifest-signing public key (created on first use) for device provisioning')
    .option('--pem', 'print only the PEM public key')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow keys gateway            # kid, 65-byte point (hex) and PEM\n  $ furrow keys gateway --pem > gateway.pub.pem')
    .action((opts: { pem?: boolean; json?: boolean }, cmd: Command) => {
      const loaded = loadCliConfig(cmd);
      const key = loadOrCreateGatewayKey(resolve(loaded.config.data.dir));
      const d = describeGatewayKey(key);
      if (opts.pem) process.stdout.write(d.pem);
      else if (opts.json) process.stdout.write(JSON.stringify({ path: key.path, created: key.created, ...d }, null, 2) + '\n');
      else {
        process.stdout.write(
          `${key.created ? 'created' : 'key'} ${key.path}\nkid    ${d.kid}\npoint  ${d.point}\n${d.pem}` +
            (key.looseMode ? `warning: ${key.path} has mode ${key.looseMode}; run chmod 600 on it\n` : ''),
        );
      }
    });
}
