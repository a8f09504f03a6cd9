import type { Command } from 'commander';
import { groupFormatCap, multicastCandidates } from '../../bearer/lora/fuota/candidates.ts';
import { MulticastRepo, type SessionRow } from '../../bearer/lora/fuota/store.ts';
import { InputError } from '../../errors.ts';
import { bar } from '../../rollout/render.ts';
import type { Db } from '../../store/database.ts';
import { PatchRepo } from '../../store/patches.ts';
import { ReleaseRepo } from '../../store/releases.ts';
import { RolloutRepo } from '../../store/rollouts.ts';
import { formatBytes, printJson, table, withStore } from '../context.ts';
import { plural } from '../../text.ts';

/**
 * `furrow lora multicast start|status|cancel`: the CLI writes the daemon's SQLite (a queued session, a
 * cancel flag) and the running daemon acts on it within a second, like `furrow rollout apply`.
 */
export function registerLora(program: Command): void {
  const lora = program.command('lora').description('LoRaWAN bearer: multicast FUOTA sessions (src/bearer/lora/README.md)');
  const mc = lora.command('multicast').description('send one patch to many LoRa devices at once (TS005 group, TS004 fragments with FEC)');

  mc.command('start')
    .description("queue a multicast session for a rollout wave's LoRa devices (one per patch base); the daemon runs it")
    .requiredOption('-r, --rollout <id>', 'running rollout whose devices get the patch')
    .option('-w, --wave <n>', 'wave (default: the current one)')
    .option('--min <n>', 'fewest devices needing the same patch for a session', '1')
    .option('--json', 'machine-readable output: queued sessions, skipped groups, devices left to unicast')
    .addHelpText('after', '\nExample:\n  $ furrow lora multicast start --rollout soil-probe-1.4.2\n\nExit codes: 0 queued, 2 unknown rollout, no LoRa devices, or no patch built yet.')
    .action(async (opts: { rollout: string; wave?: string; min: string; json?: boolean }, cmd: Command) => {
      const say = (line: string) => {
        if (!opts.json) process.stdout.write(line);
      };
      await withStore(cmd, ({ db, loaded }) => {
        const cfg = loaded.config.lora;
        if (!cfg) throw new InputError('LORA_NOT_CONFIGURED', `${loaded.file} has no lora: section`, { hint: 'configure lora.chirpstack (see src/bearer/lora/README.md) and restart the daemon' });
        const rollouts = new RolloutRepo(db);
        const row = rollouts.get(opts.rollout);
        if (!row) throw new InputError('ROLLOUT_UNKNOWN', `no rollout named ${JSON.stringify(opts.rollout)}`, { hint: `known: ${rollouts.list().map((r) => r.id).join(', ') || 'none'}` });
        if (row.state !== 'running') throw new InputError('ROLLOUT_NOT_RUNNING', `rollout ${row.id} is ${row.state}`, { hint: row.state === 'paused' || row.state === 'halted' ? `furrow rollout resume ${row.id} first` : 'multicast only serves a running rollout' });
        const wave = opts.wave === undefined ? row.currentWave : intArg(opts.wave, '--wave');
        const waves = rollouts.waves(row.id).length;
        if (wave >= waves) throw new InputError('WAVE_UNKNOWN', `rollout ${row.id} has waves 0..${waves - 1}, not ${wave}`);
        if (wave > row.currentWave) throw new InputError('WAVE_NOT_STARTED', `wave ${wave} of rollout ${row.id} has not started (current wave ${row.currentWave})`, { hint: 'its devices are not due yet' });
        const min = intArg(opts.min, '--min');
        const c = multicastCandidates(db, cfg, row.id, wave, row.releaseSha256);
        if (c.lora === 0) {
          throw new InputError('LORA_NO_DEVICES', `wave ${wave} of rollout ${row.id} has no LoRa device waiting for the update`, {
            hint: 'LoRa devices are the DevEUIs under lora.devices (deviceId: their furrow id); devices already offered the update are not counted',
          });
        }
        for (const u of c.unicast) say(`unicast: ${u.deviceId} (${u.reason})\n`);
        const repo = new MulticastRepo(db);
        const queued: string[] = [];
        const problems: string[] = [];
        for (const g of c.groups) {
          if (g.members.length < min) {
            problems.push(`${g.members.length} device(s) on ${g.fromSha256.slice(0, 12)}: fewer than --min ${min}`);
            continue;
          }
          const patch = new PatchRepo(db).best(g.fromSha256, row.releaseSha256, groupFormatCap(db, g, loaded.config.delta.formatVersion));
          if (!patch) {
            problems.push(`${g.members.length} device(s) on ${versionOf(db, g.fromSha256)}: no patch to the release yet (furrow delta build --from ${versionOf(db, g.fromSha256)} --to ${versionOf(db, row.releaseSha256)})`);
            continue;
          }
          const id = repo.create({ rolloutId: row.id, wave, fromSha256: g.fromSha256, toSha256: row.releaseSha256, patchId: patch.id, patchSize: patch.size, origin: 'cli', members: g.members }, Date.now());
          queued.push(id);
          say(`queued: session ${id}, ${plural(g.members.length, 'device')}, ${versionOf(db, g.fromSha256)} -> ${versionOf(db, row.releaseSha256)}, patch ${formatBytes(patch.size)}\n`);
        }
        for (const p of problems) say(`skipped: ${p}\n`);
        if (queued.length === 0) {
          throw new InputError('LORA_NO_SESSION', `no multicast session queued for rollout ${row.id} wave ${wave}`, { hint: c.groups.length === 0 ? 'every LoRa device of the wave goes by unicast (see the reasons above)' : 'see "skipped" above' });
        }
        if (opts.json) return printJson({ rollout: row.id, wave, queued, skipped: problems, unicast: c.unicast });
        say(`the running daemon starts ${queued.length === 1 ? 'it' : 'them'} within a second, one at a time; follow with: furrow lora multicast status\n`);
      });
    });

  mc.command('status [session]')
    .description('progress of multicast sessions (fragments sent, devices done/missing); with an id: every member')
    .option('--watch', 'print the sessions again whenever they change, until none is running')
    .addHelpText('after', '\nExamples:\n  $ furrow lora multicast status --watch\n  $ furrow lora multicast status mc-4f2a9c      # every member: state, missing, repaired')
    .option('--json', 'machine-readable output (sessions with their members; not with --watch)')
    .action(async (id: string | undefined, opts: { watch?: boolean; json?: boolean }, cmd: Command) => {
      await withStore(cmd, async ({ db }) => {
        const repo = new MulticastRepo(db);
        if (opts.json) {
          const sessions = id ? [repo.get(id)].filter((s) => s !== undefined) : repo.list();
          if (id && sessions.length === 0) throw new InputError('SESSION_UNKNOWN', `no multicast session ${JSON.stringify(id)}`, { hint: 'furrow lora multicast status lists them' });
          // The group key (McKey) is a secret shared with the devices: never printed.
          return printJson(sessions.map(({ mcKey: _k, ...s }) => ({ ...s, members: repo.members(s.id) })));
        }
        if (opts.watch && !id && repo.list().length > 0) return watch(repo);
        if (id) {
          const s = repo.get(id);
          if (!s) throw new InputError('SESSION_UNKNOWN', `no multicast session ${JSON.stringify(id)}`, { hint: 'furrow lora multicast status lists them' });
          process.stdout.write(sessionLine(repo, s) + '\n\n');
          const rows = repo.members(id).map((m) => [m.deviceId, m.devEui, m.state, m.missing ?? '-', m.repairFragments, m.reason ?? '']);
          process.stdout.write(table(['device', 'devEui', 'state', 'missing after mc', 'repaired', 'reason'], rows) + '\n');
          return;
        }
        const all = repo.list();
        if (all.length === 0) {
          process.stdout.write('no multicast sessions; a rollout with delivery.lora: multicast queues them, or furrow lora multicast start --rollout <id>\n');
          return;
        }
        for (const s of all.slice(-20)) process.stdout.write(sessionLine(repo, s) + '\n');
      });
    });

  mc.command('cancel <session>')
    .description('stop a session; members that have not rebuilt the patch get the unicast download instead')
    .addHelpText('after', '\nExample:\n  $ furrow lora multicast cancel mc-4f2a9c')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const repo = new MulticastRepo(db);
        const s = repo.get(id);
        if (!s) throw new InputError('SESSION_UNKNOWN', `no multicast session ${JSON.stringify(id)}`, { hint: 'furrow lora multicast status lists them' });
        if (!repo.requestCancel(id, Date.now())) throw new InputError('SESSION_ENDED', `multicast session ${id} already ended (${s.state})`);
        if (opts.json) return printJson({ session: id, cancelRequested: true });
        process.stdout.write(`cancel requested: the running daemon stops session ${id} within a second\n`);
      });
    });
}

/** Reprints the live sessions (one line each) when their progress changes; ends when none is live. */
async function watch(repo: MulticastRepo): Promise<void> {
  let last = '';
  for (;;) {
    const live = repo.list({ states: ['queued', 'setup', 'broadcast', 'status', 'repair'] });
    const text = (live.length ? live : repo.list().slice(-1)).map((s) => sessionLine(repo, s)).join('\n') + '\n';
    if (text !== last) process.stdout.write(text);
    last = text;
    if (live.length === 0) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function intArg(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InputError('BAD_ARGUMENT', `${name} must be a whole number (0 or more), got ${JSON.stringify(v)}`);
  return n;
}

function versionOf(db: Db, sha256: string): string {
  return new ReleaseRepo(db).get(sha256)?.version ?? sha256.slice(0, 12);
}

/** One line per session: state, a bar for the phase it is in, and devices done / still missing. */
function sessionLine(repo: MulticastRepo, s: SessionRow): string {
  const members = repo.members(s.id);
  const done = members.filter((m) => m.state === 'complete').length;
  const failed = members.filter((m) => m.state === 'failed').length;
  const total = (s.nbFrag ?? 0) + (s.parity ?? 0);
  const sentFraction = total ? s.sent / total : 0;
  // Setup and broadcast: fragments sent; afterwards: devices done.
  const fraction = s.state === 'done' ? 1 : ['status', 'repair'].includes(s.state) ? (members.length ? (done + failed) / members.length : 0) : sentFraction;
  const frags = total ? `fragments ${s.sent}/${total}` : 'fragments -';
  const tail = s.reason && !['setup', 'broadcast', 'status', 'repair'].includes(s.state) ? `  (${s.reason})` : '';
  return `${s.id}  ${s.rolloutId} wave ${s.wave}  ${s.state.padEnd(9)} ${bar(fraction, 20)} ${String(Math.round(fraction * 100)).padStart(3)}%  ${frags}  devices ${done}/${members.length} done, ${members.length - done - failed} missing, ${failed} failed${tail}`;
}
