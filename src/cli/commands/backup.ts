import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { dataPaths } from '../../daemon.ts';
import { InputError } from '../../errors.ts';
import { backupDataDir } from '../../lifecycle/backup.ts';
import { restoreBackup } from '../../lifecycle/restore.ts';
import { formatBytes, loadCliConfig, withStore } from '../context.ts';

export function registerBackup(program: Command): void {
  program
    .command('backup <file>')
    .description('write the database (SQLite online backup: consistent while the daemon runs), the blobs it uses and the gateway key into one tar archive')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ furrow backup /mnt/usb/furrow-2026-12-07.tar\n  $ tar -tf /mnt/usb/furrow-2026-12-07.tar   # a plain ustar archive\n\nExit codes: 0 written, 1 cannot write it, 2 bad arguments or no database.')
    .action(async (file: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      const out = resolve(file);
      if (existsSync(out) && !opts.force) throw new InputError('BACKUP_EXISTS', `${out} already exists`, { hint: 'choose another name or add --force to overwrite it' });
      await withStore(cmd, async ({ db, loaded }) => {
        const tty = process.stderr.isTTY === true;
        const r = await backupDataDir(db, dataPaths(loaded.config), out, {
          gatewayId: loaded.config.gateway.id,
          now: Date.now(),
          onProgress: (p) => {
            if (tty) process.stderr.write(`\rbackup: ${p.files}/${p.of} files, ${formatBytes(p.bytes)}   ${p.files === p.of ? '\n' : ''}`);
          },
        });
        for (const id of r.missingBlobs) process.stderr.write(`furrow: warning: blob ${id.slice(0, 12)} is referenced but missing from the blob store; not in the backup\n`);
        for (const id of r.corruptBlobs) process.stderr.write(`furrow: warning: blob ${id.slice(0, 12)} does not match its digest; the restore will refuse this backup until it is re-added\n`);
        if (opts.json) process.stdout.write(JSON.stringify({ ...r, database: dataPaths(loaded.config).db }, null, 2) + '\n');
        else process.stdout.write(`backup ${r.file}: ${r.files} files, ${formatBytes(r.bytes)} (database ${formatBytes(r.databaseBytes)} schema ${r.schemaVersion}, ${r.blobs} blobs) of ${dataPaths(loaded.config).db}\n`);
        if (r.corruptBlobs.length > 0) process.exitCode = 1;
      });
    });

  program
    .command('restore <file>')
    .description("replace the config's data dir with a backup: unpacked beside it, every file checked against its SHA-256, then swapped in (refused while the daemon runs)")
    .option('--force', 'replace an existing database (the old data dir is kept as <dir>.before-restore-<time>)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ furrow --config /etc/furrow/furrow.yaml restore --force /mnt/usb/furrow-2026-12-07.tar\n  (stop the daemon first: sudo systemctl stop furrow; start it again afterwards)\n\nExit codes: 0 restored, 1 cannot write the data dir, 2 damaged backup, daemon running, or a database exists (no --force).')
    .action((file: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      const loaded = loadCliConfig(cmd);
      const r = restoreBackup(resolve(file), dataPaths(loaded.config).dir, { force: opts.force ?? false, now: Date.now() });
      if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        process.stdout.write(
          `restored ${file} (gateway ${r.gateway}, taken ${r.createdAt}) into ${r.dataDir}: ${r.files} files, ${formatBytes(r.bytes)}, schema ${r.schemaVersion}\n` +
            (r.movedAside ? `the previous data dir is kept at ${r.movedAside}\n` : ''),
        );
      }
    });
}
