import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { httpConfigSchema } from '../../http/config.ts';
import { loadHttpCert } from '../../http/service.ts';
import { loadCliConfig } from '../context.ts';

/** `furrow http cert`: the TLS certificate devices pin (Arduino setCACert, ESP-IDF cert_pem). */
export function registerHttp(program: Command): void {
  const http = program.command('http').description('HTTPS server for stock ESP32 Wi-Fi devices (src/http/HTTP.md)');
  http
    .command('cert')
    .description('print the gateway TLS certificate (generated on first use) as PEM, for setCACert / server_cert_pem')
    .option('--json', 'machine-readable output (path, fingerprint, names, pem)')
    .addHelpText('after', '\nExample:\n  $ furrow http cert > gateway-ca.pem     # embed in the firmware as the CA certificate')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const loaded = loadCliConfig(cmd);
      // Without an http section the generated certificate is still what `http: {}` would serve.
      const cfg = loaded.config.http ?? httpConfigSchema.parse({});
      const cert = loadHttpCert(cfg, loaded.config.data.dir, loaded.file);
      if (!cert.certPem.includes('BEGIN CERTIFICATE')) throw new InputError('HTTP_CERT_BAD', `${cert.certPath} holds no PEM certificate`);
      if (opts.json) process.stdout.write(JSON.stringify({ path: cert.certPath, created: cert.created, fingerprint: cert.fingerprint, names: cert.names, pem: cert.certPem }, null, 2) + '\n');
      else process.stdout.write(cert.certPem);
    });
}
