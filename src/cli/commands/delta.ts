import type { Command } from 'commander';
import { PatchBuilder, type BuildProgress } from '../../delta/builder.ts';
import { InputError } from '../../errors.ts';
import { PatchRepo } from '../../store/patches.ts';
import { ReleaseRepo, type ReleaseRow } from '../../store/releases.ts';
import type { Db } from '../../store/database.ts';
import { formatBytes, printJson, table, withStore } from '../context.ts';

/** Finds a release by version; without --product the version must name exactly one product's release. */
function resolveRelease(db: Db, version: string, product: string | undefined, flag: string): ReleaseRow {
  const releases = new ReleaseRepo(db);
  if (product) {
    const r = releases.byVersion(product, version);
    if (!r) throw new InputError('DELTA_NO_RELEASE', `${flag} ${version}: product ${product} has no release ${version}`, { hint: 'see `furrow release list`' });
    return r;
  }
  const hits = releases.list().filter((r) => r.version === version);
  if (hits.length === 0) throw new InputError('DELTA_NO_RELEASE', `${flag} ${version}: no release has version ${version}`, { hint: 'see `furrow release list`' });
  if (hits.length > 1) {
    throw new InputError('DELTA_AMBIGUOUS', `${flag} ${version}: several products have this version (${hits.map((h) => h.product).join(', ')})`, {
      hint: 'add --product',
    });
  }
  return hits[0]!;
}

/** A one-line progress bar on stderr (only when stderr is a terminal; otherwise a line per quarter). */
function progressBar(label: string): { update(p: BuildProgress): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  const t0 = Date.now();
  let lastQuarter = -1;
  return {
    update(p) {
      const pct = Math.min(100, Math.floor(p.fraction * 100));
      const elapsed = (Date.now() - t0) / 1000;
      const eta = p.fraction > 0.05 ? Math.max(0, (elapsed / p.fraction) * (1 - p.fraction)) : undefined;
      if (tty) {
        const width = 30;
        const fill = Math.round((pct / 100) * width);
        process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${p.phase.padEnd(8)}${eta === undefined ? '' : ` ETA ${eta.toFixed(1)}s`}   `);
      } else if (Math.floor(pct / 25) > lastQuarter) {
        lastQuarter = Math.floor(pct / 25);
        process.stderr.write(`${label}: ${pct}% (${p.phase})\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}

function pct(n: number, of: number): string {
  return `${((100 * n) / of).toFixed(2)} %`;
}

export function registerDelta(program: Command): void {
  const delta = program.command('delta').description('build and inspect delta patches (furrow patch format, src/delta/FORMAT.md)');

  delta
    .command('build')
    .description('build (or rebuild) the patch from one release to another and store it; serves the full image instead when the delta saves too little')
    .requiredOption('-f, --from <version>', 'version the device runs')
    .requiredOption('-t, --to <version>', 'version to update to')
    .option('-p, --product <product>', 'product (needed when several products share the version)')
    .option('--force', 'rebuild even if the patch is already stored')
    .option('--format <n>', 'highest patch format the devices decode: 2 (pointer prediction) or 1 (firmware before it); default delta.formatVersion')
    .option('--json', 'machine-readable output (progress stays on stderr)')
    .addHelpText('after', '\nExample:\n  $ furrow delta build --from 0.14.3 --to 0.14.4 --product wled\n\nExit codes: 0 built, 1 build failed, 2 bad arguments or unknown release.')
    .action(async (opts: { from: string; to: string; product?: string; force?: boolean; format?: string; json?: boolean }, cmd: Command) => {
      const formatCap = opts.format === undefined ? undefined : Number(opts.format);
      if (formatCap !== undefined && formatCap !== 1 && formatCap !== 2) {
        throw new InputError('DELTA_BAD_FORMAT', `--format ${opts.format}: furrow patch formats are 1 and 2`, { hint: 'use --format 1 for devices whose firmware predates format 2' });
      }
      await withStore(cmd, async ({ db, blobs, loaded }) => {
        const from = resolveRelease(db, opts.from, opts.product, '--from');
        const to = resolveRelease(db, opts.to, opts.product ?? from.product, '--to');
        if (from.product !== to.product) throw new InputError('DELTA_PRODUCT_MISMATCH', `--from is a ${from.product} release, --to a ${to.product} release`);
        if (from.sha256 === to.sha256) throw new InputError('DELTA_SAME_IMAGE', `${opts.from} and ${opts.to} are the same image`);
        const builder = new PatchBuilder(db, blobs, () => loaded.config.delta, () => Date.now());
        const bar = progressBar(`${to.product} ${from.version} → ${to.version}`);
        const t0 = Date.now();
        let result;
        try {
          result = await builder.build(from.sha256, to.sha256, { formatCap, force: opts.force ?? false, onProgress: (p) => bar.update(p) });
        } finally {
          bar.done();
          await builder.close();
        }
        const r = result.row;
        if (opts.json) return printJson({ cached: result.cached, product: to.product, from: from.version, to: to.version, seconds: (Date.now() - t0) / 1000, patch: r });
        const why =
          r.kind === 'full' && r.deltaSize !== null
            ? ` (delta ${formatBytes(r.deltaSize)} saved less than ${loaded.config.delta.minSavingsPercent} % against the full image)`
            : '';
        process.stdout.write(
          `${result.cached ? 'already stored' : 'built'}: ${to.product} ${from.version} → ${to.version}  ${r.kind} v${r.formatVersion}  ${formatBytes(r.size)} (${pct(r.size, to.size)} of the image)` +
            `  patch ${r.id}${why}${result.cached ? '' : `  ${((Date.now() - t0) / 1000).toFixed(1)} s`}\n`,
        );
      });
    });

  delta
    .command('list')
    .description('list stored patches with sizes and ratios')
    .option('-p, --product <product>', 'only this product')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow delta list --product wled\n\nExit codes: 0 ok, 1 store error, 2 bad arguments.')
    .action(async (opts: { product?: string; json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const rows = new PatchRepo(db).list(opts.product ? { product: opts.product } : {});
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no patches (the running daemon builds them when it sees a new release and when a device needs one; by hand: `furrow delta build`)\n');
          return;
        }
        process.stdout.write(
          table(
            ['PRODUCT', 'FROM', 'TO', 'FOR', 'KIND', 'FORMAT', 'SIZE', '% OF IMAGE', 'DELTA', 'FULL', 'CHUNKS', 'PATCH'],
            rows.map((r) => [
              r.product,
              r.fromSha256 === '' ? '(any)' : (r.fromVersion ?? r.fromSha256.slice(0, 12)),
              r.toVersion,
              `≤ v${r.formatCap}`,
              r.kind,
              `v${r.formatVersion}`,
              formatBytes(r.size),
              pct(r.size, r.toSize),
              r.deltaSize === null ? '-' : formatBytes(r.deltaSize),
              r.fullSize === null ? '-' : formatBytes(r.fullSize),
              r.chunkCount ?? '-',
              r.id.slice(0, 12),
            ]),
          ) + '\n',
        );
      });
    });
}
