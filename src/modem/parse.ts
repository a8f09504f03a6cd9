import { paramsOf } from './at/urc.ts';

/** Parsers for information responses. Each returns undefined for a line it cannot read (never throws). */

export type ModemModel = 'bc66' | 'bg96';

const int = (s: string | undefined): number | undefined => (s !== undefined && /^-?\d+$/.test(s) ? Number(s) : undefined);

/** ATI answers e.g. `Quectel_Ltd / Quectel_BC66 / Revision: BC66NBR01A10` or `Quectel / BG96 / Revision: BG96MAR02A07M1G`. */
export function detectModel(lines: string[]): ModemModel | undefined {
  const text = lines.join(' ').toUpperCase();
  if (/\bBC66|_BC66/.test(text)) return 'bc66';
  if (/\bBG96/.test(text)) return 'bg96';
  return undefined;
}

/** AT+CGMR: `Revision: BC66NBR01A10` (BC66) or a bare `BG96MAR02A07M1G` (BG96). */
export function parseRevision(lines: string[]): string | undefined {
  for (const l of lines) {
    const m = /^(?:Revision:\s*)?([A-Z0-9][A-Za-z0-9_.-]{5,})$/.exec(l.trim());
    if (m) return m[1];
  }
  return undefined;
}

/** +CSQ: <rssi>,<ber>; 0..31 → -113..-51 dBm, 99 unknown (3GPP TS 27.007 §8.5). */
export function parseCsq(line: string): { csq: number; rssiDbm?: number } | undefined {
  if (!line.startsWith('+CSQ:')) return undefined;
  const v = int(paramsOf(line)[0]);
  if (v === undefined) return undefined;
  return v >= 0 && v <= 31 ? { csq: v, rssiDbm: -113 + 2 * v } : { csq: v };
}

/** +CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>; rsrq 0..34 → -19.5+n/2 dB, rsrp 0..97 → -140+n dBm, 255 unknown (3GPP TS 27.007 §8.69). */
export function parseCesq(line: string): { rsrq?: number; rsrp?: number } | undefined {
  if (!line.startsWith('+CESQ:')) return undefined;
  const p = paramsOf(line);
  if (p.length < 6) return undefined;
  const rsrq = int(p[4]);
  const rsrp = int(p[5]);
  return {
    ...(rsrq !== undefined && rsrq <= 34 ? { rsrq: -19.5 + rsrq / 2 } : {}),
    ...(rsrp !== undefined && rsrp <= 97 ? { rsrp: -140 + rsrp } : {}),
  };
}

/** AT+CEREG? → +CEREG: <n>,<stat>[,<tac>,<ci>,<AcT>...] (3GPP TS 27.007 §10.1.22). */
export function parseCeregRead(line: string): { stat: number; tac?: string; cellId?: string } | undefined {
  if (!line.startsWith('+CEREG:')) return undefined;
  const p = paramsOf(line);
  const stat = int(p[1]);
  if (stat === undefined) return undefined;
  return { stat, ...(p[2] ? { tac: p[2] } : {}), ...(p[3] ? { cellId: p[3] } : {}) };
}

export interface ServingCell {
  cellId?: string;
  pci?: number;
  earfcn?: number;
  band?: number;
  tac?: string;
  rsrp?: number;
  rsrq?: number;
  rssi?: number;
  sinr?: number;
  ceLevel?: number;
  rat?: string;
  state?: string;
}

/**
 * BC66 AT+QENG=0 (BC66 AT Commands Manual, AT+QENG):
 * +QENG: 0,<sc_EARFCN>,<sc_EARFCN_offset>,<sc_pci>,<sc_cellid>,<sc_RSRP>,<sc_RSRQ>,<sc_RSSI>,<sc_SINR>,<sc_band>,<sc_TAC>,<sc_ECL>,<sc_Tx_pwr>,<operation_mode>
 * RSRP/RSRSQ/RSSI in dBm/dB, SINR in dB, ECL 0..2.
 */
export function parseQengBc66(line: string): ServingCell | undefined {
  if (!line.startsWith('+QENG:')) return undefined;
  const p = paramsOf(line);
  if (p[0] !== '0' || p.length < 12) return undefined;
  return clean({
    rat: 'NB-IoT',
    earfcn: int(p[1]),
    pci: int(p[3]),
    cellId: p[4] || undefined,
    rsrp: int(p[5]),
    rsrq: int(p[6]),
    rssi: int(p[7]),
    sinr: int(p[8]),
    band: int(p[9]),
    tac: p[10] || undefined,
    ceLevel: int(p[11]),
  });
}

/**
 * BG96 AT+QENG="servingcell" (BG96 AT Commands Manual, AT+QENG):
 * +QENG: "servingcell",<state>,"CAT-M"|"CAT-NB",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,<freq_band_ind>,
 *        <UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,<srxlev>
 * SINR is reported in 1/5 dB steps from 0 (= -20 dB) to 250 (= +30 dB). Without a cell (state SEARCH)
 * only the state is given.
 */
export function parseQengBg96(line: string): ServingCell | undefined {
  if (!line.startsWith('+QENG:')) return undefined;
  const p = paramsOf(line);
  if (p[0] !== 'servingcell') return undefined;
  if (p.length < 17) return { state: p[1] };
  const sinrRaw = int(p[16]);
  return clean({
    state: p[1],
    rat: p[2],
    cellId: p[6] || undefined,
    pci: int(p[7]),
    earfcn: int(p[8]),
    band: int(p[9]),
    tac: p[12] || undefined,
    rsrp: int(p[13]),
    rsrq: int(p[14]),
    rssi: int(p[15]),
    sinr: sinrRaw === undefined ? undefined : sinrRaw / 5 - 20,
  });
}

/** BG96 AT+QCFG="celevel" → +QCFG: "celevel",<level> (BG96 AT Commands Manual §4.3.x). */
export function parseCeLevel(line: string): number | undefined {
  if (!line.startsWith('+QCFG:')) return undefined;
  const p = paramsOf(line);
  return p[0] === 'celevel' ? int(p[1]) : undefined;
}

/** AT+QIACT? → +QIACT: <ctx>,<state>,<type>,"<ip>" per active context (BG96 TCP/IP Application Note §2.2.2). */
export function parseQiact(lines: string[], contextId: number): string | undefined {
  for (const l of lines) {
    if (!l.startsWith('+QIACT:')) continue;
    const p = paramsOf(l);
    if (int(p[0]) === contextId && int(p[1]) === 1) return p[3] ?? '';
  }
  return undefined;
}

/** AT+CGPADDR=<cid> → +CGPADDR: <cid>,<addr> (3GPP TS 27.007 §10.1.14); empty address = no PDN yet. */
export function parseCgpaddr(lines: string[], contextId: number): string | undefined {
  for (const l of lines) {
    if (!l.startsWith('+CGPADDR:')) continue;
    const p = paramsOf(l);
    if (int(p[0]) === contextId && p[1] && p[1] !== '0.0.0.0') return p[1];
  }
  return undefined;
}

/** AT+CPIN? → +CPIN: READY | SIM PIN | ... */
export function parseCpin(lines: string[]): string | undefined {
  const l = lines.find((x) => x.startsWith('+CPIN:'));
  return l ? l.slice(6).trim() : undefined;
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
