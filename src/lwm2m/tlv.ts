/**
 * OMA LwM2M TLV (OMA-TS-LightweightM2M-Core §7.4.3, Content-Format 11542): a type byte (identifier
 * kind in bits 7-6, 16-bit identifier in bit 5, length-field size in bits 4-3, short length in 2-0), the
 * identifier, the length, the value. Values carry no type: the reader decides with the object model.
 */
export type TlvKind = 'instance' | 'resourceInstance' | 'multiple' | 'resource';

export interface TlvEntry {
  kind: TlvKind;
  id: number;
  /** Leaf value bytes (resource, resourceInstance). */
  value?: Buffer;
  /** Nested entries (instance, multiple). */
  children?: TlvEntry[];
}

export class TlvError extends Error {
  override readonly name = 'TlvError';
}

const KINDS: TlvKind[] = ['instance', 'resourceInstance', 'multiple', 'resource'];
const MAX_DEPTH = 3;

export function decodeTlv(buf: Buffer, depth = 0): TlvEntry[] {
  const out: TlvEntry[] = [];
  let i = 0;
  while (i < buf.length) {
    const at = i;
    const t = buf[i++]!;
    const kind = KINDS[t >> 6]!;
    const idLen = t & 0x20 ? 2 : 1;
    const lenType = (t >> 3) & 3;
    if (i + idLen + lenType > buf.length) throw new TlvError(`TLV entry at offset ${at} is truncated in its header`);
    const id = idLen === 2 ? buf.readUInt16BE(i) : buf[i]!;
    i += idLen;
    let len = t & 7;
    if (lenType > 0) {
      len = buf.readUIntBE(i, lenType);
      i += lenType;
    }
    if (i + len > buf.length) throw new TlvError(`TLV entry at offset ${at} (${kind} ${id}) says ${len} bytes but only ${buf.length - i} follow`);
    const body = buf.subarray(i, i + len);
    i += len;
    if (kind === 'instance' || kind === 'multiple') {
      if (depth >= MAX_DEPTH) throw new TlvError(`TLV nested deeper than ${MAX_DEPTH} levels at offset ${at}`);
      const children = decodeTlv(body, depth + 1);
      const want: TlvKind[] = kind === 'instance' ? ['resource', 'multiple'] : ['resourceInstance'];
      for (const c of children) if (!want.includes(c.kind)) throw new TlvError(`a ${c.kind} TLV inside a ${kind} (${id}) at offset ${at}`);
      out.push({ kind, id, children });
    } else out.push({ kind, id, value: Buffer.from(body) });
  }
  return out;
}

export function encodeTlv(entries: TlvEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.children ? encodeTlv(e.children) : (e.value ?? Buffer.alloc(0));
    if (e.id < 0 || e.id > 0xffff) throw new TlvError(`TLV identifier ${e.id} is outside 0..65535`);
    if (body.length > 0xffffff) throw new TlvError(`TLV value of ${body.length} bytes exceeds the 24-bit length`);
    const idLen = e.id > 0xff ? 2 : 1;
    const lenType = body.length < 8 ? 0 : body.length <= 0xff ? 1 : body.length <= 0xffff ? 2 : 3;
    const head = Buffer.alloc(1 + idLen + lenType);
    head[0] = (KINDS.indexOf(e.kind) << 6) | (idLen === 2 ? 0x20 : 0) | (lenType << 3) | (lenType === 0 ? body.length : 0);
    if (idLen === 2) head.writeUInt16BE(e.id, 1);
    else head[1] = e.id;
    if (lenType > 0) head.writeUIntBE(body.length, 1 + idLen, lenType);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}

/** §7.4.3 Integer: 1, 2, 4 or 8 bytes, two's complement, big-endian. */
export function tlvInt(v: Buffer): number {
  if (v.length === 1) return v.readInt8(0);
  if (v.length === 2) return v.readInt16BE(0);
  if (v.length === 4) return v.readInt32BE(0);
  if (v.length === 8) return Number(v.readBigInt64BE(0));
  throw new TlvError(`a TLV integer is 1, 2, 4 or 8 bytes, not ${v.length}`);
}

export function intTlvValue(n: number): Buffer {
  if (!Number.isInteger(n)) throw new TlvError(`${n} is not an integer`);
  if (n >= -128 && n <= 127) return Buffer.from([n & 0xff]);
  const b = n >= -32768 && n <= 32767 ? Buffer.alloc(2) : n >= -(2 ** 31) && n < 2 ** 31 ? Buffer.alloc(4) : Buffer.alloc(8);
  if (b.length === 2) b.writeInt16BE(n);
  else if (b.length === 4) b.writeInt32BE(n);
  else b.writeBigInt64BE(BigInt(n));
  return b;
}

export function tlvFloat(v: Buffer): number {
  if (v.length === 4) return v.readFloatBE(0);
  if (v.length === 8) return v.readDoubleBE(0);
  throw new TlvError(`a TLV float is 4 or 8 bytes, not ${v.length}`);
}

export function tlvBool(v: Buffer): boolean {
  if (v.length !== 1 || v[0]! > 1) throw new TlvError('a TLV boolean is one byte, 0 or 1');
  return v[0] === 1;
}
