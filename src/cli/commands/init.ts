import { existsSync, mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { dataPaths } from '../../daemon.ts';
import { openDatabase, schemaVersion } from '../../store/database.ts';
import { loadCliConfig } from '../context.ts';

/** `furrow init`: the one verb (besides start and the verbs that add things) that creates a database. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description("create the data directory and an empty database for the config (verbs that only read refuse to create one)")
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ furrow init\n  $ furrow --config /etc/furrow/furrow.yaml init\n\nExit codes: 0 created or already there, 1 cannot create it, 2 bad config.')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const loaded = loadCliConfig(cmd);
      const paths = dataPaths(loaded.config);
      const existed = existsSync(paths.db);
      mkdirSync(paths.blobs, { recursive: true });
      // Opening runs the integrity check and every migration: an existing database is brought up to date.
      const db = openDatabase(paths.db);
      const version = schemaVersion(db);
      db.close();
      const out = { database: paths.db, dataDir: paths.dir, config: loaded.file, configSource: loaded.source, created: !existed, schemaVersion: version };
      if (opts.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      else process.stdout.write(`${existed ? 'already there' : 'created'}: database ${paths.db} (schema ${version})\nconfig ${loaded.file} (${loaded.source})\n`);
    });
}
