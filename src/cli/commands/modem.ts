import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import { CEREG_TEXT } from '../../modem/at/urc.ts';
import type { ModemConfig } from '../../modem/config.ts';
import type { ModemHealth } from '../../modem/health.ts';
import { openDirect, PortBusyError, probe } from '../../modem/probe.ts';
import { loadStatus } from '../../modem/status-store.ts';
import { TIMEOUT_MS } from '../../modem/timeouts.ts';
import { loadCliConfig, openCliStore, table } from '../context.ts';

function modemConfig(cmd: Command): { cfg: ModemConfig; loaded: ReturnType<typeof loadCliConfig> } {
  const loaded = loadCliConfig(cmd);
  if (!loaded.config.modem) {
    throw new InputError('MODEM_NOT_CONFIGURED', `${loaded.file}: no modem configured`, { hint: 'add a `modem:` section with `port: /dev/ttyUSB2`' });
  }
  return { cfg: loaded.config.modem, loaded };
}

function render(h: ModemHealth & { sim?: string }, source: string): string {
  const v = (x: unknown, unit = '') => (x === undefined || x === null || x === '' ? '-' : `${String(x)}${unit}`);
  const rows: Array<[string, string]> = [
    ['source', source],
    ['model', `${v(h.model)} ${h.revision ?? ''}`.trim()],
    ['state', h.state],
    ['sim', v(h.sim)],
    ['registration', h.regStat === undefined ? (h.registered ? 'registered' : 'not registered') : `${h.regStat} (${CEREG_TEXT[h.regStat] ?? 'unknown'})`],
    ['ip', v(h.ip)],
    ['csq', h.csq === undefined ? '-' : `${h.csq}${h.rssiDbm === undefined ? '' : ` (${h.rssiDbm} dBm)`}`],
    ['rsrp', v(h.rsrp, ' dBm')],
    ['rsrq', v(h.rsrq, ' dB')],
    ['sinr', v(h.sinr, ' dB')],
    ['ce level', v(h.ceLevel)],
    ['cell', `${v(h.cellId)}${h.pci === undefined ? '' : ` pci ${h.pci}`}${h.earfcn === undefined ? '' : ` earfcn ${h.earfcn}`}${h.band === undefined ? '' : ` band ${h.band}`}${h.tac ? ` tac ${h.tac}` : ''}`],
    ['rat', v(h.rat)],
  ];
  return table(['field', 'value'], rows);
}

export function registerModem(program: Command): void {
  const modem = program.command('modem').description('inspect the Quectel BC66/BG96 modem (directly, or the daemon\'s last reading when it holds the port)');
  modem
    .command('status')
    .description('model, SIM, registration, signal (CSQ, CESQ) and serving cell (RSRP, RSRQ, SINR, CE level, cell id)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ furrow modem status\n  $ furrow -c /etc/furrow/furrow.yaml modem status --json')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { cfg, loaded } = modemConfig(cmd);
      let health: ModemHealth & { sim?: string };
      let source: string;
      try {
        const direct = await openDirect(cfg.port, cfg.baudRate);
        try {
          health = await probe(direct.client);
        } finally {
          await direct.close();
        }
        source = `direct on ${cfg.port}`;
      } catch (err) {
        if (!(err instanceof PortBusyError)) throw err;
        const store = openCliStore(loaded);
        const saved = (() => {
          try {
            return loadStatus(store.db);
          } finally {
            store.close();
          }
        })();
        process.stderr.write(`furrow: ${cfg.port} is busy (held by the furrow daemon or another program); showing the daemon's last reading\n`);
        if (!saved) throw new PortBusyError('MODEM_PORT_BUSY', `${cfg.port} is busy and the daemon has not recorded a modem reading yet`, { hint: 'wait for the first health poll (modem.healthIntervalSeconds) or stop the daemon' });
        health = saved.health;
        const age = Math.round((Date.now() - (saved.health.polledAt ?? saved.updatedAt)) / 1000);
        source = `daemon snapshot, ${age} s old`;
      }
      if (opts.json) process.stdout.write(JSON.stringify({ source, ...health }, null, 2) + '\n');
      else process.stdout.write(render(health, source) + '\n');
    });
  modem
    .command('at <command>')
    .description('send one AT command to the modem and print its answer (only while the daemon is not holding the port)')
    .option('--timeout <ms>', 'how long to wait for the final result', String(TIMEOUT_MS.manual))
    .addHelpText('after', '\nExamples:\n  $ furrow modem at "AT+CSQ"\n  $ furrow modem at \'AT+QENG="servingcell"\'')
    .action(async (command: string, opts: { timeout: string }, cmd: Command) => {
      const { cfg } = modemConfig(cmd);
      const text = command.trim();
      if (!/^AT/i.test(text) || /[\r\n]/.test(text)) {
        throw new InputError('MODEM_BAD_COMMAND', `"${command}" is not one AT command`, { hint: 'start with AT, one command per call, e.g. furrow modem at "AT+CSQ"' });
      }
      const timeoutMs = Number(opts.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 300_000) {
        throw new InputError('MODEM_BAD_TIMEOUT', `--timeout ${opts.timeout} is not a whole number of ms between 100 and 300000`);
      }
      const direct = await openDirect(cfg.port, cfg.baudRate);
      try {
        const r = await direct.client.send({ command: text, timeoutMs, resolveErrors: true });
        for (const l of r.lines) process.stdout.write(`${l.text}\n`);
        process.stdout.write(`${r.final}\n`);
        if (r.final !== 'OK' && !/^SEND OK$/.test(r.final)) process.exitCode = 1;
      } finally {
        await direct.close();
      }
    });
}
