import { BitReader, BitWriter } from './bits.ts';
import { CoapParseError, parseCoap, serializeCoap, type CoapFields, type CoapOption } from './coap-message.ts';
import { FURROW_RULES, HEADER_BITS, NO_COMPRESSION_RULE_ID, type Direction, type FieldDescriptor, type Rule, type Value } from './rules.ts';

/**
 * SCHC compression and decompression of CoAP headers (RFC 8724 §7) with the subset the furrow rules
 * need: MO equal / ignore / match-mapping / MSB, CDA not-sent / value-sent / mapping-sent / LSB, the
 * variable-length residue encoding of §7.4.2 (lengths in bytes, RFC 8824 §4), and the RuleID carried
 * as the LoRaWAN FPort (RFC 9011 §5.3). Not implemented: SCHC fragmentation (the CoAP Block2 layer
 * and TS004 do that job here), compute-* CDAs, IPv6/UDP rules, rule management (CORECONF).
 */
export interface SchcPacket {
  ruleId: number;
  data: Buffer;
}

export class SchcError extends Error {}

interface FieldValue {
  desc: FieldDescriptor;
  value: Value;
  /** Bit length of a fixed-length field; undefined for variable-length ones (token, options). */
  bits: number | undefined;
}

function sameValue(a: Value, b: Value): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.equals(b);
}

function mappingBits(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}

/** Pairs each descriptor with the packet's field, or undefined when the rule does not fit the packet. */
function bind(rule: Rule, m: CoapFields): FieldValue[] | undefined {
  const opts: CoapOption[] = [...m.options];
  const out: FieldValue[] = [];
  for (const desc of rule.fields) {
    let value: Value;
    let bits: number | undefined = HEADER_BITS[desc.field];
    switch (desc.field) {
      case 'version': value = m.version; break;
      case 'type': value = m.type; break;
      case 'tkl': value = m.token.length; break;
      case 'code': value = m.code; break;
      case 'mid': value = m.messageId; break;
      case 'token': value = m.token; bits = m.token.length * 8; break;
      case 'option': {
        const o = opts.shift();
        if (!o || o.number !== desc.option) return undefined;
        value = o.value;
        break;
      }
    }
    if (!matches(desc, value, bits)) return undefined;
    out.push({ desc, value, bits });
  }
  return opts.length === 0 ? out : undefined;
}

function matches(desc: FieldDescriptor, value: Value, bits: number | undefined): boolean {
  const mo = desc.mo;
  switch (mo.kind) {
    case 'ignore': return true;
    case 'equal': return desc.tv !== undefined && !Array.isArray(desc.tv) && sameValue(desc.tv, value);
    case 'match-mapping': return Array.isArray(desc.tv) && desc.tv.some((t) => sameValue(t, value));
    case 'msb': {
      if (typeof value !== 'number' || typeof desc.tv !== 'number' || bits === undefined) return false;
      const shift = 2 ** (bits - mo.bits);
      return Math.floor(value / shift) === Math.floor(desc.tv / shift);
    }
  }
}

/** RFC 8724 §7.4.2: 4 bits for 0-14, 0xF + 8 bits for 15-254, 0xF 0xFF + 16 bits beyond. */
function writeLength(w: BitWriter, n: number): void {
  if (n < 15) w.write(n, 4);
  else if (n < 255) { w.write(15, 4); w.write(n, 8); }
  else { w.write(15, 4); w.write(255, 8); w.write(n, 16); }
}

function readLength(r: BitReader): number {
  const a = r.read(4);
  if (a < 15) return a;
  const b = r.read(8);
  if (b < 255) return b;
  return r.read(16);
}

function writeResidue(w: BitWriter, fv: FieldValue): void {
  const { desc, value, bits } = fv;
  switch (desc.cda) {
    case 'not-sent': return;
    case 'mapping-sent': {
      const tv = desc.tv as Value[];
      w.write(tv.findIndex((t) => sameValue(t, value)), mappingBits(tv.length));
      return;
    }
    case 'lsb': {
      if (desc.mo.kind !== 'msb' || typeof value !== 'number' || bits === undefined) throw new SchcError(`LSB needs an MSB matching operator on a fixed-length field (${desc.field})`);
      const lsbBits = bits - desc.mo.bits;
      w.write(value % 2 ** lsbBits, lsbBits);
      return;
    }
    case 'value-sent': {
      if (typeof value === 'number') { w.write(value, bits!); return; }
      // The token's size is known from TKL (RFC 8824 §4.4); options carry their length.
      if (desc.field !== 'token') writeLength(w, value.length);
      w.writeBytes(value);
    }
  }
}

function encode(rule: Rule, fields: FieldValue[], payload: Buffer): Buffer {
  const w = new BitWriter();
  for (const fv of fields) writeResidue(w, fv);
  w.writeBytes(payload);
  return w.toBuffer();
}

function ruleApplies(rule: Rule, direction: Direction): boolean {
  return rule.direction === 'bi' || rule.direction === direction;
}

export class SchcCompressor {
  private readonly byId: Map<number, Rule>;

  constructor(private readonly rules: readonly Rule[] = FURROW_RULES) {
    this.byId = new Map(rules.map((r) => [r.id, r]));
    if (this.byId.has(NO_COMPRESSION_RULE_ID)) throw new SchcError(`rule id ${NO_COMPRESSION_RULE_ID} is reserved for no-compression`);
  }

  /**
   * Smallest encoding of a CoAP message going `direction`. A message no rule fits, or whose bytes are
   * not the canonical encoding SCHC would rebuild, goes out under the no-compression rule unchanged.
   */
  compress(coap: Buffer, direction: Direction): SchcPacket {
    let fields: CoapFields;
    try {
      fields = parseCoap(coap);
    } catch (err) {
      if (err instanceof CoapParseError) return { ruleId: NO_COMPRESSION_RULE_ID, data: coap };
      throw err;
    }
    if (!serializeCoap(fields).equals(coap)) return { ruleId: NO_COMPRESSION_RULE_ID, data: coap };
    let best: SchcPacket = { ruleId: NO_COMPRESSION_RULE_ID, data: coap };
    for (const rule of this.rules) {
      if (!ruleApplies(rule, direction)) continue;
      const bound = bind(rule, fields);
      if (!bound) continue;
      const data = encode(rule, bound, fields.payload);
      if (data.length < best.data.length) best = { ruleId: rule.id, data };
    }
    // Belt and braces: what leaves must decompress to the very bytes the CoAP layer handed over.
    if (best.ruleId !== NO_COMPRESSION_RULE_ID && !this.decompress(best, direction).equals(coap)) {
      return { ruleId: NO_COMPRESSION_RULE_ID, data: coap };
    }
    return best;
  }

  /** Rebuilds the exact CoAP bytes; throws SchcError naming the rule and what is wrong. */
  decompress(packet: SchcPacket, direction: Direction): Buffer {
    if (packet.ruleId === NO_COMPRESSION_RULE_ID) return packet.data;
    const rule = this.byId.get(packet.ruleId);
    if (!rule) throw new SchcError(`SCHC rule ${packet.ruleId} is not in the furrow context (known: 0, ${[...this.byId.keys()].join(', ')})`);
    if (!ruleApplies(rule, direction)) throw new SchcError(`SCHC rule ${rule.id} (${rule.name}) does not apply to ${direction}link messages`);
    const r = new BitReader(packet.data);
    const m: CoapFields = { version: 1, type: 0, code: 0, messageId: 0, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) };
    let tkl = 0;
    try {
      for (const desc of rule.fields) {
        const value = this.readField(r, desc, tkl);
        switch (desc.field) {
          case 'version': m.version = value as number; break;
          case 'type': m.type = value as number; break;
          case 'tkl': tkl = value as number; break;
          case 'code': m.code = value as number; break;
          case 'mid': m.messageId = value as number; break;
          case 'token': m.token = value as Buffer; break;
          case 'option': m.options.push({ number: desc.option!, value: value as Buffer }); break;
        }
      }
      if (tkl > 8) throw new SchcError(`SCHC rule ${rule.id}: token length ${tkl} is reserved in CoAP (9-15)`);
      if (tkl !== m.token.length) throw new SchcError(`TKL ${tkl} but token of ${m.token.length} bytes`);
      m.payload = r.readBytes(Math.floor(r.remaining / 8));
    } catch (err) {
      if (err instanceof SchcError) throw err;
      throw new SchcError(`SCHC rule ${rule.id} (${rule.name}): residue of ${packet.data.length} bytes is truncated: ${(err as Error).message}`);
    }
    return serializeCoap(m);
  }

  private readField(r: BitReader, desc: FieldDescriptor, tkl: number): Value {
    const bits = HEADER_BITS[desc.field];
    switch (desc.cda) {
      case 'not-sent':
        if (desc.tv === undefined || Array.isArray(desc.tv)) throw new SchcError(`not-sent ${desc.field} needs a single target value`);
        return desc.tv;
      case 'mapping-sent': {
        const tv = desc.tv as Value[];
        const idx = r.read(mappingBits(tv.length));
        const v = tv[idx];
        if (v === undefined) throw new SchcError(`mapping index ${idx} for ${desc.field} is outside the ${tv.length} target values`);
        return v;
      }
      case 'lsb': {
        if (desc.mo.kind !== 'msb' || typeof desc.tv !== 'number' || bits === undefined) throw new SchcError(`LSB on ${desc.field} needs MSB and a numeric target`);
        const lsbBits = bits - desc.mo.bits;
        return desc.tv - (desc.tv % 2 ** lsbBits) + r.read(lsbBits);
      }
      case 'value-sent': {
        if (desc.field === 'token') {
          if (tkl > 8) throw new SchcError(`token length ${tkl} is reserved in CoAP (9-15)`);
          return r.readBytes(tkl);
        }
        if (bits !== undefined) return r.read(bits);
        return r.readBytes(readLength(r));
      }
    }
  }
}
