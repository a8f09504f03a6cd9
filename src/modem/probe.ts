import { silentLogger, type Logger } from '../log.ts';
import { AtClient } from './at/client.ts';
import { at } from './bringup.ts';
import { ModemError } from './errors.ts';
import type { ModemHealth } from './health.ts';
import { detectModel, parseCeLevel, parseCeregRead, parseCesq, parseCpin, parseCsq, parseQengBc66, parseQengBg96, parseRevision } from './parse.ts';
import { describeOpenError } from './port.ts';
import { loadSerialPort } from '../heavy-deps.ts';
import { TIMEOUT_MS } from './timeouts.ts';

/**
 * Talking to the modem directly, for `furrow modem status|at` when the daemon is not running. Opening
 * takes the port's exclusive lock, so we never talk over the daemon; a held port is reported as busy.
 */
export class PortBusyError extends ModemError {}

export async function openDirect(path: string, baudRate: number, log: Logger = silentLogger()): Promise<{ client: AtClient; close(): Promise<void> }> {
  const SerialPort = await loadSerialPort();
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve();
      const text = describeOpenError(path, err);
      const Cls = /busy/.test(text) ? PortBusyError : ModemError;
      reject(new Cls(/busy/.test(text) ? 'MODEM_PORT_BUSY' : 'MODEM_PORT_OPEN', text, {
        hint: /busy/.test(text) ? 'the daemon owns the modem while it runs; stop it (systemctl stop furrow) to send raw AT commands' : 'check modem.port in the config and the cable',
      }));
    }),
  );
  const client = new AtClient(log, path);
  client.attach(port);
  return {
    client,
    close: async () => {
      client.detach();
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
    },
  };
}

/** One round of identification and signal queries, like the daemon's health poll. */
export async function probe(client: AtClient): Promise<ModemHealth & { sim?: string }> {
  let answered = false;
  for (let i = 0; i < 4 && !answered; i++) answered = await at(client, 'AT', 500).then(() => true, () => false);
  if (!answered) throw new ModemError('MODEM_NO_ANSWER', 'the modem does not answer AT', { hint: 'check power and modem.baudRate' });
  await at(client, 'ATE0');
  const text = async (cmd: string, expect?: string, ms: number = TIMEOUT_MS.basic) => {
    try {
      return (await at(client, cmd, ms, expect ? { expect } : {})).lines.map((l) => l.text);
    } catch {
      return [];
    }
  };
  const ati = await text('ATI');
  const model = detectModel(ati);
  const h: ModemHealth & { sim?: string } = { state: 'direct', registered: false, garbageBytes: 0 };
  if (model) h.model = model;
  const rev = parseRevision(await text('AT+CGMR'));
  if (rev) h.revision = rev;
  const sim = parseCpin(await text('AT+CPIN?', '+CPIN:', TIMEOUT_MS.cpin));
  if (sim) h.sim = sim;
  const reg = parseCeregRead((await text('AT+CEREG?', '+CEREG:'))[0] ?? '');
  if (reg) {
    h.regStat = reg.stat;
    h.registered = reg.stat === 1 || reg.stat === 5;
  }
  Object.assign(h, parseCsq((await text('AT+CSQ', '+CSQ:'))[0] ?? ''));
  Object.assign(h, parseCesq((await text('AT+CESQ', '+CESQ:'))[0] ?? ''));
  if (model === 'bc66') Object.assign(h, parseQengBc66((await text('AT+QENG=0', '+QENG:', TIMEOUT_MS.qeng))[0] ?? ''));
  if (model === 'bg96') {
    Object.assign(h, parseQengBg96((await text('AT+QENG="servingcell"', '+QENG:', TIMEOUT_MS.qeng))[0] ?? ''));
    const ce = parseCeLevel((await text('AT+QCFG="celevel"', '+QCFG:'))[0] ?? '');
    if (ce !== undefined) h.ceLevel = ce;
  }
  h.polledAt = Date.now();
  if (!model) h.state = `unsupported (${ati.join(' / ') || 'no ATI answer'})`;
  return h;
}
