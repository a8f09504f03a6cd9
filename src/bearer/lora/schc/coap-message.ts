/**
 * A CoAP message split into the fields SCHC works on (RFC 7252 §3; RFC 8824 §3 field names).
 * Parsing is strict: anything SCHC could not rebuild byte for byte is refused, so the compressor can
 * fall back to the no-compression rule instead of sending a different message.
 */
export interface CoapOption {
  number: number;
  value: Buffer;
}

export interface CoapFields {
  version: number;
  type: number;
  code: number;
  messageId: number;
  token: Buffer;
  options: CoapOption[];
  payload: Buffer;
}

export class CoapParseError extends Error {}

function readExt(buf: Buffer, pos: number, nibble: number, what: string): { value: number; pos: number } {
  if (nibble < 13) return { value: nibble, pos };
  if (nibble === 13) {
    if (pos >= buf.length) throw new CoapParseError(`option ${what} extension byte missing at offset ${pos}`);
    return { value: buf[pos]! + 13, pos: pos + 1 };
  }
  if (nibble === 14) {
    if (pos + 1 >= buf.length) throw new CoapParseError(`option ${what} extension bytes missing at offset ${pos}`);
    return { value: buf.readUInt16BE(pos) + 269, pos: pos + 2 };
  }
  throw new CoapParseError(`option ${what} nibble 15 is reserved (RFC 7252 §3.1) at offset ${pos - 1}`);
}

export function parseCoap(buf: Buffer): CoapFields {
  if (buf.length < 4) throw new CoapParseError(`CoAP message of ${buf.length} bytes is shorter than the 4-byte header`);
  const b0 = buf[0]!;
  const version = b0 >> 6;
  if (version !== 1) throw new CoapParseError(`CoAP version ${version} is not 1`);
  const type = (b0 >> 4) & 3;
  const tkl = b0 & 15;
  if (tkl > 8) throw new CoapParseError(`token length ${tkl} is reserved (RFC 7252 §3: 9-15)`);
  if (buf.length < 4 + tkl) throw new CoapParseError(`token of ${tkl} bytes runs past the end`);
  const code = buf[1]!;
  const messageId = buf.readUInt16BE(2);
  const token = Buffer.from(buf.subarray(4, 4 + tkl));
  const options: CoapOption[] = [];
  let pos = 4 + tkl;
  let number = 0;
  let payload = Buffer.alloc(0);
  while (pos < buf.length) {
    const head = buf[pos++]!;
    if (head === 0xff) {
      if (pos === buf.length) throw new CoapParseError('payload marker with an empty payload (RFC 7252 §3)');
      payload = Buffer.from(buf.subarray(pos));
      break;
    }
    const d = readExt(buf, pos, head >> 4, 'delta');
    const l = readExt(buf, d.pos, head & 15, 'length');
    pos = l.pos;
    if (pos + l.value > buf.length) throw new CoapParseError(`option ${number + d.value} value of ${l.value} bytes runs past the end`);
    number += d.value;
    options.push({ number, value: Buffer.from(buf.subarray(pos, pos + l.value)) });
    pos += l.value;
  }
  return { version, type, code, messageId, token, options, payload };
}

function extNibble(v: number): { nibble: number; ext: number[] } {
  if (v < 13) return { nibble: v, ext: [] };
  if (v < 269) return { nibble: 13, ext: [v - 13] };
  return { nibble: 14, ext: [(v - 269) >> 8, (v - 269) & 0xff] };
}

/** Canonical encoding (shortest option headers); options must be sorted by number. */
export function serializeCoap(m: CoapFields): Buffer {
  const parts: number[] = [(m.version << 6) | (m.type << 4) | m.token.length, m.code, m.messageId >> 8, m.messageId & 0xff, ...m.token];
  let last = 0;
  for (const o of m.options) {
    if (o.number < last) throw new CoapParseError(`options out of order: ${o.number} after ${last}`);
    const d = extNibble(o.number - last);
    const l = extNibble(o.value.length);
    parts.push((d.nibble << 4) | l.nibble, ...d.ext, ...l.ext, ...o.value);
    last = o.number;
  }
  const head = Buffer.from(parts);
  return m.payload.length > 0 ? Buffer.concat([head, Buffer.from([0xff]), m.payload]) : head;
}
