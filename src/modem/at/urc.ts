/**
 * URC demultiplexing: which lines arrive unsolicited, and what they mean. Formats from the BG96 TCP/IP
 * Application Note §2.3 (+QIURC), the BC66 TCP/IP Application Note §2.3, 3GPP TS 27.007 §10.1.22
 * (+CEREG) and the BG96/BC66 AT Commands Manuals (RDY, POWERED DOWN, +IP).
 */
export type Urc =
  | { type: 'recv'; connectId: number; length?: number; address?: string; port?: number; hex?: string; payload?: Buffer }
  | { type: 'closed'; connectId: number }
  | { type: 'pdpdeact'; contextId: number }
  | { type: 'cereg'; stat: number; tac?: string; cellId?: string }
  | { type: 'ip'; address: string }
  | { type: 'ready' }
  | { type: 'powerdown'; text: string }
  | { type: 'qiopen'; connectId: number; err: number }
  | { type: 'other'; text: string };

const URC_PREFIXES = ['+QIURC:', '+CEREG:', '+IP:', '+QIOPEN:', '+CPIN:', '+CSCON:', '+QNBIOTEVENT:', '+CFUN:', '+QIND:', '+QNTP:', '+QATWAKEUP'];
const URC_WORDS = new Set(['RDY', 'APP RDY', 'POWERED DOWN', 'NORMAL POWER DOWN', '+QATWAKEUP']);

/** Splits an AT parameter list, honouring double quotes: `"recv",0,5,"1.2.3.4"` → [recv, 0, 5, 1.2.3.4]. */
export function splitParams(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** The part after `+XYZ: `. */
export function paramsOf(line: string): string[] {
  const i = line.indexOf(':');
  return i < 0 ? [] : splitParams(line.slice(i + 1));
}

export function looksLikeUrc(line: string): boolean {
  if (URC_WORDS.has(line)) return true;
  return URC_PREFIXES.some((p) => line.startsWith(p));
}

const int = (s: string | undefined): number | undefined => {
  if (s === undefined || s === '' || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
};

/** Parses a URC line (and the payload the framer attached to it, if any). Never throws. */
export function parseUrc(line: string, payload?: Buffer): Urc {
  if (line === 'RDY' || line === 'APP RDY') return { type: 'ready' };
  if (line === 'POWERED DOWN' || line === 'NORMAL POWER DOWN') return { type: 'powerdown', text: line };
  const p = paramsOf(line);
  if (line.startsWith('+QIURC:')) {
    const kind = p[0];
    const id = int(p[1]);
    if (kind === 'recv' && id !== undefined) {
      const length = int(p[2]);
      // BG96 "UDP SERVICE": "recv",<id>,<len>,"<ip>",<port> + payload line
      if (p.length >= 5 && int(p[4]) !== undefined) {
        return { type: 'recv', connectId: id, length, address: p[3], port: int(p[4]), payload };
      }
      // BC66 direct push, viewmode 1: "recv",<id>,<len>,<hexdata>
      if (p.length >= 4) return { type: 'recv', connectId: id, length, hex: p[3] };
      return { type: 'recv', connectId: id, length, payload };
    }
    if (kind === 'closed' && id !== undefined) return { type: 'closed', connectId: id };
    if (kind === 'pdpdeact' && id !== undefined) return { type: 'pdpdeact', contextId: id };
    return { type: 'other', text: line };
  }
  if (line.startsWith('+CEREG:')) {
    // URC form: <stat>[,<tac>,<ci>,<AcT>]; the read-command form has <n> first and is not a URC.
    const stat = int(p[0]);
    if (stat !== undefined) return { type: 'cereg', stat, tac: p[1] || undefined, cellId: p[2] || undefined };
  }
  if (line.startsWith('+IP:')) return { type: 'ip', address: p[0] ?? '' };
  if (line.startsWith('+QIOPEN:')) {
    const id = int(p[0]);
    const err = int(p[1]);
    if (id !== undefined && err !== undefined) return { type: 'qiopen', connectId: id, err };
  }
  return { type: 'other', text: line };
}

/** 3GPP TS 27.007 §10.1.22: 1 registered (home), 5 registered (roaming). */
export function isRegistered(stat: number): boolean {
  return stat === 1 || stat === 5;
}

export const CEREG_TEXT: Record<number, string> = {
  0: 'not registered, not searching',
  1: 'registered, home network',
  2: 'not registered, searching',
  3: 'registration denied',
  4: 'unknown (out of coverage)',
  5: 'registered, roaming',
};
