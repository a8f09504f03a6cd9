import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../../errors.ts';
import type { Command } from 'commander';
import { addRelease, loadPrivateKey, parseEspImage, signStatement } from '../../release/index.ts';
import { checkName } from '../../release/ingest.ts';
import { ReleaseRepo } from '../../store/releases.ts';
import { formatBytes, printJson, table, withStore } from '../context.ts';
import { patchBuildNote, probeDaemon } from '../daemon-probe.ts';

function parseSecureVersion(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InputError('BAD_ARGUMENT', `--secure-version ${JSON.stringify(v)}: expected an integer 0..4294967295`);
  return n;
}

export function registerRelease(program: Command): void {
  const release = program.command('release').description('add, sign and inspect firmware releases');

  release
    .command('add <image>')
    .description('verify an ESP application image and store it as a release (idempotent)')
    .requiredOption('-p, --product <product>', 'product the image is for, e.g. soil-probe')
    .requiredOption('-V, --version <version>', 'release version, e.g. 1.4.2 (the image\'s own esp_app_desc version is not trusted)')
    .option('-s, --sig <file>', 'release statement made offline by `furrow release sign`')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow release add build/app.bin --product soil-probe --version 1.4.2 --sig build/app.bin.sig')
    .action(async (image: string, opts: { product: string; version: string; sig?: string; json?: boolean }, cmd: Command) => {
      await withStore(cmd, async ({ db, blobs, loaded }) => {
        const r = addRelease(
          { db, blobs, config: loaded.config, now: Date.now(), configFile: loaded.file },
          { file: image, product: opts.product, version: opts.version, ...(opts.sig ? { sigFile: opts.sig } : {}) },
        );
        if (opts.json) return printJson({ created: r.created, release: r.release });
        const what = r.created ? 'added' : 'already present';
        process.stdout.write(
          `${what}: ${r.release.product} ${r.release.version}  ${r.image.chip}  ${formatBytes(r.release.size)}  sha256 ${r.release.sha256}` +
            `  ${r.release.signer ? `signed by ${r.release.signer}` : 'UNSIGNED'}\n`,
        );
        if (r.created) process.stdout.write(patchBuildNote(await probeDaemon(loaded.config), loaded.config, r.release.product, r.release.version) + '\n');
      }, { create: true });
    });

  release
    .command('list')
    .description('list stored releases')
    .option('-p, --product <product>', 'only this product')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow release list --product soil-probe')
    .action(async (opts: { product?: string; json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const rows = new ReleaseRepo(db).list(opts.product ? { product: opts.product } : {});
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows.map(({ signature: _s, ...r }) => r), null, 2) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no releases (add one with `furrow release add`)\n');
          return;
        }
        process.stdout.write(
          table(
            ['PRODUCT', 'VERSION', 'CHIP', 'SIZE', 'SHA256', 'SIGNED', 'ADDED'],
            rows.map((r) => [r.product, r.version, r.chip, formatBytes(r.size), r.sha256.slice(0, 12), r.signer ?? 'no', new Date(r.addedAt).toISOString().slice(0, 19)]),
          ) + '\n',
        );
      });
    });

  release
    .command('show <product> <version>')
    .description('show one release in detail')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow release show soil-probe 1.4.2')
    .action(async (product: string, version: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const r = new ReleaseRepo(db).byVersion(product, version);
        if (!r) throw new InputError('RELEASE_NOT_FOUND', `no release ${product} ${version}`, { hint: 'see `furrow release list`' });
        if (opts.json) return printJson(r);
        const lines: Array<[string, string]> = [
          ['product', r.product],
          ['version', r.version],
          ['chip', r.chip],
          ['size', `${r.size} bytes (${formatBytes(r.size)})`],
          ['sha256', r.sha256],
          ['secure version', String(r.secureVersion)],
          ['signed by', r.signer ?? 'unsigned'],
          ['app desc version', r.appVersion ?? ''],
          ['project name', r.projectName ?? ''],
          ['IDF version', r.idfVersion ?? ''],
          ['build date', r.buildDate ?? ''],
          ['added', new Date(r.addedAt).toISOString()],
        ];
        process.stdout.write(lines.map(([k, v]) => `${k.padEnd(17)} ${v}`).join('\n') + '\n');
      });
    });

  release
    .command('sign <image>')
    .description('sign a release statement offline with the vendor release key')
    .requiredOption('-p, --product <product>', 'product')
    .requiredOption('-V, --version <version>', 'release version')
    .requiredOption('-k, --key <file>', 'release private key (PEM) from `furrow keys generate`')
    .option('--secure-version <n>', 'anti-rollback counter (default: the image\'s esp_app_desc secure_version)')
    .option('-o, --out <file>', 'where to write the statement (default: <image>.sig)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow release sign build/app.bin --product soil-probe --version 1.4.2 --key vendor.pem')
    .action((image: string, opts: { product: string; version: string; key: string; secureVersion?: string; out?: string; json?: boolean }) => {
      checkName('product', opts.product);
      checkName('version', opts.version);
      let data: Buffer;
      try {
        data = readFileSync(image);
      } catch (err) {
        throw new InputError('RELEASE_UNREADABLE', `cannot read image ${image}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const parsed = parseEspImage(data, basename(image));
      const key = loadPrivateKey(opts.key);
      const secureVersion = opts.secureVersion !== undefined ? parseSecureVersion(opts.secureVersion) : parsed.appDesc.secureVersion;
      const statement = signStatement({ product: opts.product, version: opts.version, secureVersion, sha256: parsed.sha256, size: parsed.size }, key);
      const out = opts.out ?? `${image}.sig`;
      writeFileSync(out, statement);
      if (opts.json) return printJson({ product: opts.product, version: opts.version, sha256: parsed.sha256, size: parsed.size, secureVersion, statement: out });
      process.stdout.write(`signed ${opts.product} ${opts.version} (sha256 ${parsed.sha256.slice(0, 12)}…, secure version ${secureVersion}) → ${out}\n`);
    });
}
