import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadRolloutFile } from '../../rollout/load.ts';
import { applyPlan, patchesTableLookup, planRollout } from '../../rollout/plan.ts';
import { renderPlan, renderStatus, bar } from '../../rollout/render.ts';
import { applyVerb, VERBS, type Verb } from '../../rollout/transitions.ts';
import type { RolloutSpec } from '../../rollout/spec.ts';
import { ReleaseRepo } from '../../store/releases.ts';
import { RolloutRepo } from '../../store/rollouts.ts';
import { InputError } from '../../errors.ts';
import { printJson, withStore } from '../context.ts';
import { probeDaemon, rolloutPickupNote } from '../daemon-probe.ts';

const EXAMPLE_REASONS: Record<Verb, string> = {
  pause: 'harvest week, radio quiet',
  resume: 'harvest done',
  halt: 'probes report wrong soil moisture after 1.4.2',
  abort: '1.4.3 replaces it',
};

export function registerRollout(program: Command): void {
  const rollout = program
    .command('rollout')
    .description('plan, apply and steer staged rollouts (one YAML file per rollout, see config/rollouts/README.md)');

  rollout
    .command('plan <file>')
    .description('show what applying the rollout file would do, without changing anything')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow rollout plan config/rollouts/soil-probe-1.4.2.yaml')
    .action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db, loaded }) => {
        const spec = loadRolloutFile(file);
        const plan = planRollout(spec, { file, text: readFileSync(file, 'utf8') }, db, { schedule: loaded.config.schedule, patches: patchesTableLookup(db), now: Date.now() });
        if (opts.json) return printJson(plan);
        process.stdout.write(renderPlan(plan));
      });
    });

  rollout
    .command('apply <file>')
    .description('create the rollout (or update the running one in place); devices already under way keep their wave')
    .option('--yes', 'do not print the plan first')
    .option('--json', 'machine-readable output (the plan and what was done)')
    .addHelpText('after', '\nExample:\n  $ furrow rollout apply config/rollouts/soil-probe-1.4.2.yaml')
    .action(async (file: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
      await withStore(cmd, async ({ db, loaded }) => {
        const spec = loadRolloutFile(file);
        const plan = planRollout(spec, { file, text: readFileSync(file, 'utf8') }, db, { schedule: loaded.config.schedule, patches: patchesTableLookup(db), now: Date.now() });
        if (!opts.yes && !opts.json) process.stdout.write(renderPlan(plan) + '\n');
        applyPlan(db, plan, file, Date.now());
        if (opts.json) return printJson({ rollout: spec.id, action: plan.existing ? 'updated' : 'created', plan });
        process.stdout.write(`applied: rollout ${spec.id} ${plan.existing ? 'updated' : 'created'}; ${rolloutPickupNote(await probeDaemon(loaded.config))}\n`);
      });
    });

  rollout
    .command('status [id]')
    .description('progress per wave, failures with reasons, and the timeline; without id: every rollout')
    .addHelpText('after', '\nExamples:\n  $ furrow rollout status soil-probe-1.4.2\n  $ furrow rollout status')
    .option('--json', 'machine-readable output')
    .action(async (id: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const repo = new RolloutRepo(db);
        const releases = new ReleaseRepo(db);
        if (!id) {
          const rows = repo.list();
          if (opts.json) return printJson(rows.map((r) => ({ ...r, release: releases.get(r.releaseSha256) ?? null, waves: repo.counts(r.id) })));
          if (rows.length === 0) process.stdout.write('no rollouts; create one with furrow rollout apply <file>\n');
          for (const r of rows) {
            const c = repo.counts(r.id);
            const total = c.reduce((a, x) => a + x.members, 0);
            const ok = c.reduce((a, x) => a + x.succeeded, 0);
            const bad = c.reduce((a, x) => a + x.failed + x.rolledBack, 0);
            const rel = releases.get(r.releaseSha256);
            process.stdout.write(`${r.id.padEnd(28)} ${r.state.padEnd(9)} ${bar(total ? ok / total : 0, 20)} ${ok}/${total} ok ${bad} failed  wave ${r.currentWave}  ${rel ? `${rel.product} ${rel.version}` : r.releaseSha256.slice(0, 12)}${r.reason && r.state !== 'running' ? `  (${r.reason})` : ''}\n`);
          }
          return;
        }
        const row = repo.get(id);
        if (!row) throw new InputError('ROLLOUT_UNKNOWN', `no rollout named ${JSON.stringify(id)}`, { hint: `known: ${repo.list().map((r) => r.id).join(', ') || 'none'}` });
        const spec = row.spec as RolloutSpec;
        const rel = releases.get(row.releaseSha256);
        if (opts.json) return printJson({ ...row, release: rel ?? null, waves: repo.waves(id), counts: repo.counts(id), failures: repo.members(id, { states: ['failed', 'rolled_back'] }), history: repo.history(id) });
        process.stdout.write(
          renderStatus(
            {
              row,
              version: rel ? `${rel.product} ${rel.version}` : '?',
              waves: repo.waves(id),
              counts: repo.counts(id),
              failures: repo.members(id, { states: ['failed', 'rolled_back'] }),
              history: repo.history(id),
              soakMs: spec.waves.map((w) => w.soak),
            },
            Date.now(),
          ),
        );
      });
    });

  for (const verb of Object.keys(VERBS) as Verb[]) {
    const help: Record<Verb, string> = {
      pause: 'stop offering the update to new devices; devices mid-download are told to come back later',
      resume: 'continue a paused or halted rollout',
      halt: 'stop the rollout for safety (like an automatic halt); resume continues it',
      abort: 'end the rollout for good; devices that have not started are cancelled',
    };
    rollout
      .command(`${verb} <id>`)
      .description(help[verb])
      .option('-r, --reason <text>', 'why (shown in status and sent with the rollout.state event)')
      .addHelpText('after', `\nExample:\n  $ furrow rollout ${verb} soil-probe-1.4.2 --reason ${JSON.stringify(EXAMPLE_REASONS[verb])}`)
      .option('--json', 'machine-readable output')
      .action(async (id: string, opts: { reason?: string; json?: boolean }, cmd: Command) => {
        await withStore(cmd, ({ db }) => {
          const to = applyVerb(new RolloutRepo(db), id, verb, opts.reason ?? null, Date.now());
          if (opts.json) return printJson({ rollout: id, state: to });
          process.stdout.write(`rollout ${id} is now ${to}\n`);
        });
      });
  }
}
