import type { Command } from 'commander';
import { dataPaths } from '../../daemon.ts';
import { InputError } from '../../errors.ts';
import { deleteGarbage, scanGarbage } from '../../lifecycle/gc.ts';
import { formatBytes, table, withStore } from '../context.ts';

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('find blob-store files (release images, patches, leftovers of interrupted writes) nothing refers to; dry run unless --apply')
    .option('--apply', 'delete them')
    .option('--grace <minutes>', 'leave files younger than this alone (the daemon may be writing their rows)', '10')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ furrow gc            # what would go, and how many bytes\n  $ furrow gc --apply\n\nExit codes: 0 ok, 1 a file could not be deleted, 2 bad arguments.')
    .action(async (opts: { apply?: boolean; grace: string; json?: boolean }, cmd: Command) => {
      const grace = Number(opts.grace);
      if (!Number.isFinite(grace) || grace < 0 || grace > 7 * 24 * 60) throw new InputError('BAD_ARGUMENT', `--grace ${JSON.stringify(opts.grace)}: expected minutes 0..10080`);
      await withStore(cmd, ({ db, loaded }) => {
        const scan = scanGarbage(db, dataPaths(loaded.config).blobs, { now: Date.now(), graceMs: grace * 60_000 });
        const deleted = opts.apply ? deleteGarbage(db, scan) : undefined;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ applied: opts.apply ?? false, files: scan.garbage.map(({ name, kind, bytes, path }) => ({ name, kind, bytes, path })), bytes: scan.bytes, kept: scan.kept, young: scan.young, deleted }, null, 2) + '\n');
          return;
        }
        if (scan.garbage.length === 0) process.stdout.write(`nothing to collect (${scan.kept} blobs in use${scan.young ? `, ${scan.young} unreferenced but younger than ${grace} min` : ''})\n`);
        else {
          process.stdout.write(table(['KIND', 'FILE', 'SIZE', 'MODIFIED'], scan.garbage.map((g) => [g.kind, g.name.slice(0, 24), formatBytes(g.bytes), new Date(g.mtimeMs).toISOString().slice(0, 19)])) + '\n');
          process.stdout.write(
            deleted
              ? `deleted ${deleted.files} files, ${deleted.bytes} bytes (${formatBytes(deleted.bytes)}); ${scan.kept} blobs in use\n`
              : `would delete ${scan.garbage.length} files, ${scan.bytes} bytes (${formatBytes(scan.bytes)}); ${scan.kept} blobs in use; run furrow gc --apply\n`,
          );
        }
      });
    });
}
