import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { HttpIdentityRepo } from '../../http/identity.ts';
import { DeviceRepo, type DeviceRow } from '../../store/devices.ts';
import { listTransfers } from '../../store/transfers.ts';
import { formatBytes, printJson, table, withStore } from '../context.ts';

const ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

function checkId(what: string, v: string): string {
  if (!ID_RE.test(v)) throw new InputError('BAD_ARGUMENT', `${what} ${JSON.stringify(v)}: use 1..64 letters, digits, ".", "_", ":" or "-"`);
  return v;
}

function collectLabel(v: string, acc: Record<string, string>): Record<string, string> {
  const m = /^([A-Za-z0-9._/-]{1,64})=(.{0,128})$/.exec(v);
  if (!m) throw new InputError('BAD_ARGUMENT', `--label ${JSON.stringify(v)}: expected key=value (key: letters, digits, ".", "_", "/", "-")`);
  return { ...acc, [m[1]!]: m[2]! };
}

const ago = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString().slice(0, 19));

function describe(d: DeviceRow & { http?: { mac: string | null; token: string | null } | undefined }): Array<[string, string]> {
  return [
    ['id', d.id],
    ['product', d.product],
    ['hw rev', d.hwRev ?? '-'],
    ['labels', Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '-'],
    ['running', d.runningSha256 ? `${d.runningVersion ?? '?'} (${d.runningSha256})` : 'unknown (no check-in yet)'],
    ['boot slot', d.bootSlot === null ? '-' : String(d.bootSlot)],
    ['last result', d.lastResult ?? '-'],
    ['signal', d.rsrp === null && d.snr === null ? '-' : `RSRP ${d.rsrp ?? '?'} dBm, SNR ${d.snr ?? '?'} dB`],
    ['battery', d.battery === null ? '-' : `${d.battery} mV`],
    ['bearer', d.bearer ?? '-'],
    ...(d.http?.mac ? ([['mac', d.http.mac], ['ota url path', `/ota/${d.http.token}`]] as Array<[string, string]>) : []),
    ['protocol', d.protocol],
    ['added', ago(d.createdAt)],
    ['last seen', ago(d.lastSeenAt)],
  ];
}

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('provision and inspect devices');

  devices
    .command('add <id>')
    .description('register a device and print its 32-byte request key ONCE (flash it into the device)')
    .requiredOption('-p, --product <product>', 'product (device class), e.g. soil-probe')
    .option('-l, --label <key=value>', 'label for rollout selectors (repeatable)', collectLabel, {} as Record<string, string>)
    .option('--hw-rev <rev>', 'hardware revision')
    .option('--mac <mac>', 'Wi-Fi station MAC of a stock ESP32 (HTTPUpdate, esp_https_ota over HTTPS); prints its OTA URL path')
    .option('--json', 'machine-readable output (the key is in field deviceKey, hex)')
    .addHelpText('after', '\nExample:\n  $ furrow devices add probe-17 --product soil-probe --label field=north --hw-rev C\n  $ furrow devices add pump-3 --product pump --mac 24:0A:C4:A3:15:3C')
    .action(async (id: string, opts: { product: string; label: Record<string, string>; hwRev?: string; mac?: string; json?: boolean }, cmd: Command) => {
      checkId('device id', id);
      checkId('--product', opts.product);
      await withStore(cmd, ({ db }) => {
        const repo = new DeviceRepo(db);
        if (repo.get(id)) throw new InputError('DEVICE_EXISTS', `device ${id} already exists`, { hint: 'pick another id; the key of an existing device is never shown again' });
        const key = randomBytes(32);
        const http = db.transaction(() => {
          repo.add({ id, product: opts.product, labels: opts.label, deviceKey: key, ...(opts.hwRev ? { hwRev: opts.hwRev } : {}) }, Date.now());
          return opts.mac === undefined ? undefined : new HttpIdentityRepo(db).enrol(id, opts.mac);
        })();
        if (opts.json) {
          return printJson({ id, product: opts.product, labels: opts.label, hwRev: opts.hwRev ?? null, deviceKey: key, ...(http ? { mac: http.mac, otaPath: `/ota/${http.token}`, deltaPath: `/delta/${http.token}` } : {}) });
        }
        process.stdout.write(`added device ${id} (product ${opts.product})\ndevice key (shown once; store it in the device's secure storage):\n${key.toString('hex')}\n`);
        if (http) process.stdout.write(`mac ${http.mac} (Arduino HTTPUpdate: GET /update)\nota url path /ota/${http.token} (esp_https_ota; keep it secret, it identifies the device)\ndelta url path /delta/${http.token} (esp_delta_ota)\n`);
      }, { create: true });
    });

  devices
    .command('list')
    .description('list devices with what they last reported')
    .option('-p, --product <product>', 'only this product')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow devices list --product soil-probe\n\nVERSION is what the device reported at its last check-in (- until its first).')
    .action(async (opts: { product?: string; json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const rows = new DeviceRepo(db).list(opts.product ? { product: opts.product } : {});
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (rows.length === 0) {
          process.stdout.write('no devices (add one with `furrow devices add <id> --product P`)\n');
          return;
        }
        process.stdout.write(
          table(
            ['ID', 'PRODUCT', 'PROTOCOL', 'VERSION', 'RUNNING', 'RESULT', 'RSRP', 'BEARER', 'LAST SEEN'],
            rows.map((d) => [d.id, d.product, d.protocol, d.runningVersion ?? '-', d.runningSha256?.slice(0, 12) ?? '-', d.lastResult ?? '-', d.rsrp ?? '-', d.bearer ?? '-', ago(d.lastSeenAt)]),
          ) + '\n',
        );
      });
    });

  devices
    .command('show <id>')
    .description('one device in detail, with its transfers')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  $ furrow devices show probe-0001')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, ({ db }) => {
        const d = new DeviceRepo(db).get(id);
        if (!d) throw new InputError('DEVICE_UNKNOWN', `no device ${JSON.stringify(id)}`, { hint: 'list devices with `furrow devices list`' });
        const transfers = listTransfers(db, { deviceId: id });
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...d, transfers }, null, 2) + '\n');
          return;
        }
        const lines = describe({ ...d, http: new HttpIdentityRepo(db).of(id) });
        const w = Math.max(...lines.map(([k]) => k.length));
        process.stdout.write(lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
        if (transfers.length > 0) {
          process.stdout.write(
            '\n' +
              table(
                ['PATCH', 'STATE', 'PROGRESS', 'SERVED', 'RETRIES', 'BEARER', 'LAST SEEN'],
                transfers.map((t) => [t.patchId.slice(0, 12), t.state, `${formatBytes(t.offset)} / ${formatBytes(t.size)} (${t.size ? Math.floor((100 * t.offset) / t.size) : 100}%)`, formatBytes(t.bytesServed), t.retries, t.bearer ?? '-', ago(t.lastSeenAt)]),
              ) +
              '\n',
          );
        }
      });
    });
}
