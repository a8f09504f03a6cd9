import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { demoImage, DEMO_IMAGE_MAX_SIZE, DEMO_IMAGE_MIN_SIZE } from '../../release/demo-image.ts';
import { checkName } from '../../release/ingest.ts';
import { parseEspImage } from '../../release/index.ts';
import { parseBytes } from '../../schedule/units.ts';
import { formatBytes } from '../context.ts';

/** `furrow demo`: material for trying the gateway (README "Operator walkthrough") without an ESP-IDF build. */
export function registerDemo(program: Command): void {
  const demo = program.command('demo').description('make material for trying furrow without real firmware (README walkthrough)');
  demo
    .command('image <out>')
    .description('write a small valid ESP32 application image (header, segments, checksum, SHA-256, app description) that holds no runnable code; versions of one product differ like two builds, so their patch is small')
    .requiredOption('-p, --product <product>', 'product name written into the app description, e.g. soil-probe')
    .requiredOption('-V, --version <version>', 'version written into the app description, e.g. 1.4.1')
    .option('--size <bytes>', `image size (${formatBytes(DEMO_IMAGE_MIN_SIZE)} .. ${formatBytes(DEMO_IMAGE_MAX_SIZE)})`, '64KiB')
    .option('--secure-version <n>', 'anti-rollback counter in the app description', '0')
    .addHelpText('after', '\nExample:\n  $ furrow demo image build/soil-probe-1.4.1.bin --product soil-probe --version 1.4.1\n\nThe same options always write the same bytes. Exit codes: 0 written, 1 cannot write, 2 bad arguments.')
    .action((out: string, opts: { product: string; version: string; size: string; secureVersion: string }) => {
      checkName('product', opts.product);
      checkName('version', opts.version);
      const size = parseBytes(opts.size);
      if (size === undefined || size < DEMO_IMAGE_MIN_SIZE || size > DEMO_IMAGE_MAX_SIZE) {
        throw new InputError('BAD_ARGUMENT', `--size ${JSON.stringify(opts.size)}: expected ${formatBytes(DEMO_IMAGE_MIN_SIZE)} .. ${formatBytes(DEMO_IMAGE_MAX_SIZE)} (e.g. 64KiB)`);
      }
      const secureVersion = Number(opts.secureVersion);
      if (!Number.isInteger(secureVersion) || secureVersion < 0 || secureVersion > 0xffffffff) {
        throw new InputError('BAD_ARGUMENT', `--secure-version ${JSON.stringify(opts.secureVersion)}: expected an integer 0..4294967295`);
      }
      const image = demoImage({ product: opts.product, version: opts.version, size, secureVersion });
      // The generator's output must be what `release add` accepts; parsing it here keeps that true.
      const parsed = parseEspImage(image, out);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, image);
      process.stdout.write(`wrote ${out}: ${parsed.chip} app image ${opts.product} ${opts.version}, ${formatBytes(parsed.size)}, sha256 ${parsed.sha256.slice(0, 12)}…\n`);
    });
}
