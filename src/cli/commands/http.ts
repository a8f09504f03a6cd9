import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { httpConfigSchema } from '../../http/config.ts';
import { loadHttpCert } from '../../http/service.ts';
import { EspDeltaPatches } from '../../http/delta-patches.ts';
import { silentLogger } from '../../log.ts';
import { systemClock } from '../../clock.ts';
import { ReleaseRepo } from '../../store/releases.ts';
import { formatBytes, loadCliConfig, table, withStore } from '../context.ts';

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
  http
    .command('patches')
    .description('esp_delta_ota patches built for HTTP devices (detools, heatshrink 8/7), next to the full image size')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow http patches --json')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db, blobs }) => {
        const rows = new EspDeltaPatches(db, blobs, systemClock, silentLogger()).list();
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no esp_delta_ota patches yet (built when a device first asks /delta/<token>)\n');
          return;
        }
        const releases = new ReleaseRepo(db);
        const name = (sha: string) => {
          const r = releases.get(sha);
          return r ? `${r.product} ${r.version}` : sha.slice(0, 12);
        };
        process.stdout.write(
          table(
            ['FROM', 'TO', 'CODEC', 'SIZE', '% OF IMAGE', 'BUILD'],
            rows.map((r) => {
              const full = releases.get(r.toSha256)?.size ?? 0;
              return [name(r.fromSha256), name(r.toSha256), r.codec, formatBytes(r.size), full ? `${((100 * r.size) / full).toFixed(1)} %` : '-', `${(r.buildMs / 1000).toFixed(1)} s`];
            }),
          ) + '\n',
        );
      });
    });
}
