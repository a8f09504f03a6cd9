import { FurrowError } from '../errors.ts';

/**
 * Texts for the `+CME ERROR: <n>` codes a Quectel modem actually sends us: 3GPP TS 27.007 §9.2 for the
 * general ones, and the Quectel TCP/IP codes 550..574 (BG96 TCP/IP Application Note §4, BC66 TCP/IP
 * Application Note §4 use the same numbers).
 */
const CME_TEXT: Record<number, string> = {
  0: 'phone failure',
  3: 'operation not allowed',
  4: 'operation not supported',
  10: 'SIM not inserted',
  11: 'SIM PIN required',
  12: 'SIM PUK required',
  13: 'SIM failure',
  14: 'SIM busy',
  15: 'SIM wrong',
  30: 'no network service',
  31: 'network timeout',
  50: 'incorrect parameters',
  100: 'unknown error',
  550: 'unknown TCP/IP error',
  551: 'operation blocked',
  552: 'invalid parameters',
  553: 'memory not enough',
  554: 'create socket failed',
  555: 'operation not supported',
  556: 'socket bind failed',
  557: 'socket listen failed',
  558: 'socket write failed',
  559: 'socket read failed',
  560: 'socket accept failed',
  561: 'open PDP context failed',
  562: 'close PDP context failed',
  563: 'socket identity has been used',
  564: 'DNS busy',
  565: 'DNS parse failed',
  566: 'socket connect failed',
  567: 'socket has been closed',
  568: 'operation busy',
  569: 'operation timeout',
  570: 'PDP context broken down',
  571: 'cancel send',
  572: 'operation not allowed',
  573: 'APN not configured',
  574: 'port busy',
};

export function cmeText(code: number): string {
  return CME_TEXT[code] ?? 'unlisted error code';
}

/** A modem answered a command with ERROR or +CME ERROR. */
export class AtCommandError extends FurrowError {
  constructor(
    readonly command: string,
    readonly final: string,
    readonly cme: number | undefined,
  ) {
    super(
      'MODEM_AT_ERROR',
      cme === undefined ? `modem answered ${command} with ${final}` : `modem answered ${command} with +CME ERROR: ${cme} (${cmeText(cme)})`,
      { hint: 'run `furrow modem at "<command>"` to try it by hand; see the Quectel AT manual for the command' },
    );
  }
}

/** No final result within the command's maximum response time. */
export class AtTimeoutError extends FurrowError {
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
    phase: string,
  ) {
    super('MODEM_AT_TIMEOUT', `modem did not answer ${command} within ${timeoutMs} ms (${phase})`, {
      hint: 'the modem may be busy, asleep (PSM) or hung; furrow resynchronises and retries by itself',
    });
  }
}

/** The serial port closed (unplugged, or we are stopping) while a command waited. */
export class PortClosedError extends FurrowError {
  constructor(path: string, command: string) {
    super('MODEM_PORT_CLOSED', `serial port ${path} closed before ${command} finished`, {
      hint: 'check the USB cable and `dmesg`; furrow reopens the port with backoff',
    });
  }
}

export class ModemError extends FurrowError {}
