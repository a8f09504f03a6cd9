/**
 * The CoAP message as the server sees it, on top of coap-packet's codec. coap-packet is lenient
 * (it accepts extended token lengths, truncated option values and a payload marker with nothing
 * after it), so `decodeMessage` adds the RFC 7252 §3 format checks before trusting a datagram.
 */
import { generate, parse } from 'coap-packet';

export type MessageType = 'CON' | 'NON' | 'ACK' | 'RST';

export interface CoapOption {
  number: number;
  value: Buffer;
}

export interface CoapMessage {
  type: MessageType;
  /** (class << 5) | detail */
  code: number;
  messageId: number;
  token: Buffer;
  options: CoapOption[];
  payload: Buffer;
}

export class MessageFormatError extends Error {
  override readonly name = 'MessageFormatError';
}

const TYPES: MessageType[] = ['CON', 'NON', 'ACK', 'RST'];

/** RFC 7252 §3: what can be checked without full parsing; returns a reason or undefined. */
function preCheck(buf: Buffer): string | undefined {
  if (buf.length < 4) return `datagram of ${buf.length} bytes is shorter than the 4-byte CoAP header`;
  if (buf[0]! >> 6 !== 1) return `CoAP version ${buf[0]! >> 6} is not 1`;
  const tkl = buf[0]! & 0x0f;
  // RFC 7252 §3: token lengths 9-15 are reserved and MUST be processed as a message format error.
  if (tkl > 8) return `token length ${tkl} is reserved`;
  if (buf.length < 4 + tkl) return 'datagram ends inside the token';
  return undefined;
}

/** Walks the options to find truncation that coap-packet would silently accept. */
function optionsEnd(buf: Buffer, start: number): number {
  let i = start;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b === 0xff) {
      // RFC 7252 §3: a payload marker followed by a zero-length payload is a format error.
      if (i + 1 >= buf.length) throw new MessageFormatError('payload marker without payload');
      return i;
    }
    const delta = b >> 4;
    let len = b & 0x0f;
    i++;
    if (delta === 15 || len === 15) throw new MessageFormatError('reserved option delta or length 15');
    // Only the lengths matter here: option numbers are checked after parsing.
    if (delta === 13) i += 1;
    else if (delta === 14) i += 2;
    if (i > buf.length) throw new MessageFormatError('truncated option delta');
    if (len === 13) { if (i >= buf.length) throw new MessageFormatError('truncated option length'); len = buf[i++]! + 13; }
    else if (len === 14) { if (i + 1 >= buf.length) throw new MessageFormatError('truncated option length'); len = buf.readUInt16BE(i) + 269; i += 2; }
    if (i + len > buf.length) throw new MessageFormatError('option value runs past the end of the datagram');
    i += len;
  }
  return i;
}

/** Parses and checks one datagram; throws MessageFormatError for anything RFC 7252 calls a format error. */
export function decodeMessage(buf: Buffer): CoapMessage {
  const bad = preCheck(buf);
  if (bad) throw new MessageFormatError(bad);
  const tkl = buf[0]! & 0x0f;
  const code = buf[1]!;
  if (code === 0) {
    // RFC 7252 §4.1: an Empty message has nothing after the message ID.
    if (buf.length !== 4 || tkl !== 0) throw new MessageFormatError('Empty message carries a token, options or payload');
  } else {
    optionsEnd(buf, 4 + tkl);
  }
  let p;
  try {
    p = parse(buf);
  } catch (err) {
    throw new MessageFormatError((err as Error).message);
  }
  const options: CoapOption[] = [];
  for (const o of p.options) {
    const number = typeof o.name === 'number' ? o.name : OPTION_NUMBERS[o.name] ?? Number(o.name);
    if (!Number.isInteger(number)) throw new MessageFormatError(`unreadable option ${String(o.name)}`);
    options.push({ number, value: o.value });
  }
  return { type: TYPES[(buf[0]! >> 4) & 0x03]!, code, messageId: p.messageId, token: Buffer.from(p.token), options, payload: p.payload };
}

export function encodeMessage(m: CoapMessage): Buffer {
  const head = generate(
    {
      confirmable: m.type === 'CON',
      ack: m.type === 'ACK',
      reset: m.type === 'RST',
      code: `${m.code >> 5}.${String(m.code & 0x1f).padStart(2, '0')}`,
      messageId: m.messageId,
      token: m.token,
      // Option numbers as strings of digits: coap-packet maps known names, parses the rest with parseInt.
      options: m.options.map((o) => ({ name: String(o.number), value: o.value })),
    },
    65535,
  );
  if (m.payload.length === 0) return head;
  // The payload is appended here rather than by coap-packet, whose generate() UTF-8-decodes the whole
  // payload to test for emptiness: that one call was 80% of the cost of serving a 1 KiB block.
  const out = Buffer.allocUnsafe(head.length + 1 + m.payload.length);
  head.copy(out, 0);
  out[head.length] = 0xff; // RFC 7252 §3: payload marker
  m.payload.copy(out, head.length + 1);
  return out;
}

/** coap-packet reports known options by name; map them back to numbers. */
const OPTION_NUMBERS: Record<string, number> = {
  'If-Match': 1, 'Uri-Host': 3, ETag: 4, 'If-None-Match': 5, Observe: 6, 'Uri-Port': 7, 'Location-Path': 8, OSCORE: 9,
  'Uri-Path': 11, 'Content-Format': 12, 'Max-Age': 14, 'Uri-Query': 15, 'Hop-Limit': 16, Accept: 17, 'Q-Block1': 19,
  'Location-Query': 20, Block2: 23, Block1: 27, Size2: 28, 'Q-Block2': 31, 'Proxy-Uri': 35, 'Proxy-Scheme': 39,
  Size1: 60, 'No-Response': 258, 'OCF-Accept-Content-Format-Version': 2049, 'OCF-Content-Format-Version': 2053,
};

export function option(m: CoapMessage, number: number): Buffer | undefined {
  for (const o of m.options) if (o.number === number) return o.value;
  return undefined;
}

export function options(m: CoapMessage, number: number): Buffer[] {
  return m.options.filter((o) => o.number === number).map((o) => o.value);
}

/** RFC 7252 §3.2 uint option: big-endian, leading zero bytes dropped (0 is the empty string). */
export function encodeUint(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from(bytes);
}

export function decodeUint(b: Buffer): number {
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}
