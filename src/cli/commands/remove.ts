import type { Command } from 'commander';
import { removeDevice } from '../../lifecycle/remove-device.ts';
import { describeRemoval, removeRelease } from '../../lifecycle/remove-release.ts';
import { runningDaemonPid } from '../../lifecycle/daemon-pid.ts';
import { dataPaths } from '../../daemon.ts';
import { withStore } from '../context.ts';

function sub(program: Command, name: string): Command {
  const c = program.commands.find((x) => x.name() === name);
  if (!c) throw new Error(`register ${name} before its remove verb`);
  return c;
}

/** `furrow devices remove` and `furrow release remove` (src/lifecycle/). */
export function registerRemove(program: Command): void {
  sub(program, 'devices')
    .command('remove <id>')
    .description('remove a device: its key, transfers and delivery tokens; unfinished rollout memberships are cancelled; its retained MQTT topics are cleared')
    .option('--force', 'remove it even while it is downloading')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow devices remove probe-17\n\nExit codes: 0 removed, 2 unknown device or (without --force) a transfer is active.')
    .action(async (id: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db, loaded }) => {
        const r = removeDevice(db, loaded.config, id, { force: opts.force ?? false, now: Date.now() });
        const daemon = runningDaemonPid(dataPaths(loaded.config).dir);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...r, daemonRunning: daemon !== undefined }, null, 2) + '\n');
          return;
        }
        const lines = [`removed device ${id}`];
        if (r.activeTransfers.length > 0) lines.push(`  stopped ${r.activeTransfers.length} active transfer(s) (--force)`);
        if (r.cancelledMemberships > 0) lines.push(`  cancelled in ${r.cancelledMemberships} rollout(s)`);
        if (r.clearedTopics.length > 0) {
          lines.push(`  retained MQTT topics cleared ${daemon !== undefined ? 'by the running daemon within a second' : 'when the daemon next runs (queued in the outbox)'}: ${r.clearedTopics.join(', ')}`);
        } else lines.push('  no MQTT in the config: no retained topics to clear');
        process.stdout.write(lines.join('\n') + '\n');
      });
    });

  sub(program, 'release')
    .command('remove <product> <version>')
    .description('remove a release; refused while a rollout or a patch needs it (--force removes those too and says which); blobs are freed by `furrow gc`')
    .option('--force', 'also remove the rollouts and patches that need the release')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  $ furrow release remove soil-probe 1.4.1\n  $ furrow release remove soil-probe 1.4.1 --force   # with its patches and rollouts\n\nExit codes: 0 removed, 2 unknown release or (without --force) still needed.')
    .action(async (product: string, version: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db, loaded }) => {
        const r = removeRelease(db, loaded.config, product, version, { force: opts.force ?? false, now: Date.now() });
        if (opts.json) {
          const { release, ...rest } = r;
          process.stdout.write(JSON.stringify({ release: { product: release.product, version: release.version, sha256: release.sha256 }, ...rest }, null, 2) + '\n');
          return;
        }
        const gone = describeRemoval(r);
        process.stdout.write(`removed release ${product} ${version} (sha256 ${r.release.sha256.slice(0, 12)})\n${gone.map((l) => `  and ${l}\n`).join('')}  free the image and patch files with: furrow gc --apply\n`);
      });
    });
}
