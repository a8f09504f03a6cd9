/** `furrow lwm2m clients|show`: the LwM2M registrations and Object 5 flows, read from the store. */
import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { Lwm2mRepo } from '../../store/lwm2m.ts';
import { parseLinkFormat } from '../../lwm2m/link-format.ts';
import { formatBytes, table, withStore } from '../context.ts';

const iso = (t: number) => new Date(t).toISOString().slice(0, 19);

export function registerLwm2m(program: Command): void {
  const lw = program.command('lwm2m').description('LwM2M clients registered with the gateway (debugging)');

  lw.command('clients')
    .description('registered LwM2M clients with their lifetime, binding and firmware update phase')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow lwm2m clients --json')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const repo = new Lwm2mRepo(db);
        const regs = repo.list();
        if (opts.json) {
          process.stdout.write(JSON.stringify(regs.map((r) => ({ ...r, firmware: repo.firmware(r.endpoint) ?? null })), null, 2) + '\n');
          return;
        }
        if (regs.length === 0) {
          process.stdout.write('no LwM2M clients registered (allow endpoints under lwm2m.endpoints in the config)\n');
          return;
        }
        process.stdout.write(
          table(
            ['ENDPOINT', 'ADDRESS', 'LWM2M', 'BINDING', 'LIFETIME', 'EXPIRES', 'FIRMWARE'],
            regs.map((r) => [r.endpoint, `${r.address}:${r.port}`, r.version, r.binding, `${r.lifetime} s`, iso(r.expiresAt), repo.firmware(r.endpoint)?.phase ?? '-']),
          ) + '\n',
        );
      });
    });

  lw.command('show <endpoint>')
    .description('one client: registration, objects, Object 5 flow')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow lwm2m show valve-07    # registration, objects, Object 5 state and result')
    .action(async (endpoint: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const repo = new Lwm2mRepo(db);
        const r = repo.byEndpoint(endpoint);
        const fw = repo.firmware(endpoint);
        if (!r && !fw) throw new InputError('LWM2M_UNKNOWN', `no LwM2M client ${JSON.stringify(endpoint)} is registered`, { hint: 'list them with `furrow lwm2m clients`' });
        if (opts.json) {
          process.stdout.write(JSON.stringify({ registration: r ?? null, firmware: fw ?? null }, null, 2) + '\n');
          return;
        }
        const rows: Array<[string, string]> = [];
        if (r) {
          let objects = r.objects;
          try {
            objects = parseLinkFormat(r.objects).map((l) => l.uri).join(' ');
          } catch {
            /* stored as sent; show it raw */
          }
          rows.push(['endpoint', r.endpoint], ['location', `/rd/${r.location}`], ['address', `${r.address}:${r.port} (${r.bearer})`], ['lwm2m', r.version], ['binding', `${r.binding}${r.queueMode ? ' (queue mode)' : ''}`], ['lifetime', `${r.lifetime} s, expires ${iso(r.expiresAt)}`], ['registered', iso(r.registeredAt)], ['objects', objects]);
        } else rows.push(['endpoint', `${endpoint} (not registered)`]);
        if (fw) rows.push(['firmware', `${fw.phase} → release ${fw.releaseSha256.slice(0, 12)}${fw.rolloutId ? ` (rollout ${fw.rolloutId})` : ''}`], ['fw state/result', `${fw.fwState ?? '-'} / ${fw.fwResult ?? '-'}`], ['served', formatBytes(fw.bytesServed)], ['reason', fw.reason ?? '-']);
        const w = Math.max(...rows.map(([k]) => k.length));
        process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
      });
    });
}
