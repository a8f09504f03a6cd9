import type { Logger } from '../log.ts';
import type { AtClient, AtRequest, AtResponse } from './at/client.ts';
import { CEREG_TEXT, isRegistered, paramsOf } from './at/urc.ts';
import type { ModemConfig } from './config.ts';
import { AtCommandError, cmeText, ModemError } from './errors.ts';
import { detectModel, parseCeregRead, parseCgpaddr, parseCpin, parseQiact, parseRevision, type ModemModel } from './parse.ts';
import { TIMEOUT_MS } from './timeouts.ts';

/**
 * The bring-up steps, per model. Each step is idempotent so a failed bring-up can be retried from the
 * top (or from the network step after a registration loss) without leaving the modem half-configured.
 */
export interface StepContext {
  client: AtClient;
  cfg: ModemConfig;
  log: Logger;
  setStep(step: string): void;
  /** Resolves on the next +CEREG URC or after ms, whichever comes first. */
  waitRegistrationChange(ms: number): Promise<void>;
  stopped(): boolean;
}

export const at = (client: AtClient, command: string, timeoutMs: number = TIMEOUT_MS.basic, extra: Partial<AtRequest> = {}): Promise<AtResponse> =>
  client.send({ command, timeoutMs, ...extra });

const texts = (r: AtResponse) => r.lines.map((l) => l.text);

/** Sends AT until the modem answers (it may be booting, or still in a data prompt after a reset). */
export async function synchronise(ctx: StepContext): Promise<void> {
  ctx.setStep('sync');
  let last: unknown;
  for (let i = 0; i < 8 && !ctx.stopped(); i++) {
    try {
      await at(ctx.client, 'AT', 500);
      return;
    } catch (err) {
      last = err;
    }
  }
  throw new ModemError('MODEM_NO_ANSWER', `modem on ${ctx.cfg.port} does not answer AT`, {
    hint: 'check power, baud rate (modem.baudRate) and that this is the AT port (BG96 on USB: usually ttyUSB2)',
    cause: last,
  });
}

export interface Identity {
  model: ModemModel;
  revision: string | undefined;
  ati: string;
}

export async function identify(ctx: StepContext): Promise<Identity> {
  const { client, cfg } = ctx;
  ctx.setStep('identify');
  await at(client, 'ATE0');
  await at(client, 'AT+CMEE=1');
  const ati = await at(client, 'ATI');
  const atiText = texts(ati).join(' / ');
  const model = detectModel(texts(ati));
  if (!model) {
    throw new ModemError('MODEM_UNSUPPORTED', `the modem on ${cfg.port} identifies as "${atiText}"; furrow drives Quectel BC66 and BG96`, {
      hint: 'connect a BC66 or BG96, or remove the modem section from the config',
    });
  }
  if (cfg.model !== 'auto' && cfg.model !== model) {
    throw new ModemError('MODEM_MODEL_MISMATCH', `modem.model is ${cfg.model} but the modem on ${cfg.port} reports ${model.toUpperCase()} ("${atiText}")`, {
      hint: `set modem.model to ${model} or "auto"`,
    });
  }
  const cgmr = await at(client, 'AT+CGMR');
  return { model, revision: parseRevision(texts(cgmr)), ati: atiText };
}

export async function checkSim(ctx: StepContext): Promise<void> {
  ctx.setStep('sim');
  const r = await at(ctx.client, 'AT+CPIN?', TIMEOUT_MS.cpin, { expect: '+CPIN:' });
  const state = parseCpin(texts(r));
  if (state !== 'READY') {
    throw new ModemError('MODEM_SIM_NOT_READY', `SIM is not ready: +CPIN: ${state ?? '(no answer)'}`, {
      hint: 'insert the SIM or remove its PIN (furrow does not store SIM PINs)',
    });
  }
}

/**
 * Model-specific radio and socket settings. Power saving is off unless configured (a gateway must hear
 * check-ins). Returns whether received data comes as hex.
 */
export async function configure(ctx: StepContext, model: ModemModel): Promise<{ recvHex: boolean }> {
  let recvHex = true;
  const { client, cfg } = ctx;
  ctx.setStep('configure');
  if (model === 'bc66') {
    await at(client, `AT+QSCLK=${cfg.bc66.sleep ? 1 : 0}`, TIMEOUT_MS.power);
    const psm = cfg.bc66.psm;
    await at(client, psm ? `AT+CPSMS=1,,,"${psm.tau}","${psm.activeTime}"` : 'AT+CPSMS=0', TIMEOUT_MS.power);
    await at(client, cfg.bc66.edrx ? `AT+CEDRXS=1,5,"${cfg.bc66.edrx}"` : 'AT+CEDRXS=0', TIMEOUT_MS.power);
    // Hex on receive keeps binary payloads inside one printable line; viewmode 1 puts the data on the
    // URC line itself; showlength adds the byte count we check the data against.
    await at(client, `AT+QICFG="dataformat",${cfg.sendFormat === 'hex' ? 1 : 0},1`, TIMEOUT_MS.qicfg);
    await at(client, 'AT+QICFG="viewmode",1', TIMEOUT_MS.qicfg);
    await at(client, 'AT+QICFG="showlength",1', TIMEOUT_MS.qicfg);
  } else {
    const mode = { catm: 0, nbiot: 1, both: 2 }[cfg.bg96.iotopmode];
    await at(client, `AT+QCFG="iotopmode",${mode},1`, TIMEOUT_MS.qcfg);
    await at(client, `AT+QCFG="nwscanseq",${cfg.bg96.nwscanseq},1`, TIMEOUT_MS.qcfg);
    if (cfg.apn) await at(client, `AT+QICSGP=${cfg.contextId},1,"${cfg.apn}","","",0`, TIMEOUT_MS.qicsgp);
    // Older BG96 firmware has no "dataformat" (it came with the BG95-era TCP/IP stack); then data
    // arrives raw and the framer takes it by byte count.
    try {
      await at(client, 'AT+QICFG="dataformat",0,1', TIMEOUT_MS.qicfg);
    } catch (err) {
      if (!(err instanceof AtCommandError)) throw err;
      recvHex = false;
      ctx.log.warn({ answer: err.final }, 'this BG96 firmware has no AT+QICFG="dataformat"; receiving raw bytes by length');
    }
  }
  await at(client, 'AT+CEREG=2');
  return { recvHex };
}

/** Waits for CEREG stat 1 or 5, polling AT+CEREG? and waking early on the URC. */
export async function register(ctx: StepContext): Promise<{ stat: number; tac?: string; cellId?: string }> {
  ctx.setStep('registration');
  const deadline = Date.now() + ctx.cfg.registrationTimeoutSeconds * 1000;
  let last: { stat: number; tac?: string; cellId?: string } | undefined;
  while (!ctx.stopped()) {
    const r = await at(ctx.client, 'AT+CEREG?', TIMEOUT_MS.basic, { expect: '+CEREG:' });
    last = parseCeregRead(r.lines.find((l) => l.text.startsWith('+CEREG:'))?.text ?? '') ?? last;
    if (last && isRegistered(last.stat)) return last;
    if (Date.now() >= deadline) break;
    await ctx.waitRegistrationChange(1000);
  }
  const stat = last?.stat;
  throw new ModemError('MODEM_NOT_REGISTERED', `not registered after ${ctx.cfg.registrationTimeoutSeconds} s: +CEREG stat ${stat ?? '?'} (${stat === undefined ? 'no answer' : CEREG_TEXT[stat] ?? 'unknown'})`, {
    hint: 'check antenna, coverage, SIM activation and (BG96) modem.bg96.iotopmode/nwscanseq',
  });
}

/** Brings up the PDP context and returns the modem's IP address. */
export async function attachPdp(ctx: StepContext, model: ModemModel): Promise<string> {
  const { client, cfg } = ctx;
  ctx.setStep('pdp');
  if (model === 'bg96') {
    let ip = parseQiact(texts(await at(client, 'AT+QIACT?', TIMEOUT_MS.qiact)), cfg.contextId);
    if (ip === undefined) {
      await at(client, `AT+QIACT=${cfg.contextId}`, TIMEOUT_MS.qiact);
      ip = parseQiact(texts(await at(client, 'AT+QIACT?', TIMEOUT_MS.qiact)), cfg.contextId);
    }
    if (ip === undefined) throw new ModemError('MODEM_PDP_FAILED', `PDP context ${cfg.contextId} did not come up after AT+QIACT`);
    return ip;
  }
  // BC66 activates the default PDN during attach (+IP: URC); we only wait for its address.
  const deadline = Date.now() + cfg.registrationTimeoutSeconds * 1000;
  while (!ctx.stopped()) {
    const ip = parseCgpaddr(texts(await at(client, `AT+CGPADDR=${cfg.contextId}`, TIMEOUT_MS.cgpaddr)), cfg.contextId);
    if (ip) return ip;
    if (Date.now() >= deadline) break;
    await ctx.waitRegistrationChange(1000);
  }
  throw new ModemError('MODEM_PDP_FAILED', `BC66 has no IP address on context ${cfg.contextId} (AT+CGPADDR)`, {
    hint: 'set the APN in the modem (AT+QCGDEFCONT) or ask the operator whether the SIM allows IP data',
  });
}

/** Opens a UDP socket and waits for +QIOPEN: <id>,<err>; err 0 is success, others are 5xx TCP/IP codes. */
export async function openSocket(ctx: StepContext, model: ModemModel, connectId: number, remote?: { address: string; port: number }): Promise<void> {
  const { client, cfg } = ctx;
  ctx.setStep(`socket ${connectId}`);
  // Close first: after a modem-side recovery the id may still be allocated (CME 563 "socket identity has been used").
  await at(client, `AT+QICLOSE=${connectId}`, TIMEOUT_MS.qiclose).catch(() => undefined);
  const mode = cfg.accessMode === 'push' ? 1 : 0;
  const command =
    model === 'bg96'
      ? `AT+QIOPEN=${cfg.contextId},${connectId},"UDP SERVICE","127.0.0.1",0,${cfg.localPort},${mode}`
      : `AT+QIOPEN=${cfg.contextId},${connectId},"UDP","${remote!.address}",${remote!.port},${cfg.localPort === 0 ? 0 : cfg.localPort + (connectId - cfg.connectId)},${mode}`;
  const r = await at(client, command, TIMEOUT_MS.qiopen, {
    awaitAfterOk: { match: new RegExp(`^\\+QIOPEN: ${connectId},\\d+`), timeoutMs: TIMEOUT_MS.qiopenUrc },
  });
  const err = Number(paramsOf(r.after ?? '')[1]);
  if (err !== 0) {
    throw new ModemError('MODEM_SOCKET_FAILED', `AT+QIOPEN for socket ${connectId} failed: +QIOPEN: ${connectId},${err} (${cmeText(err)})`);
  }
}
