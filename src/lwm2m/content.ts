/**
 * LwM2M payloads ↔ resource values, for the content formats furrow speaks (Core §7.4): plain text (0),
 * opaque (42), TLV (11542), SenML-JSON (110), SenML-CBOR (112). A read answer becomes a flat list of
 * `{ path, value }`; a write value becomes the payload of the format the client asked for.
 */
import { parsePath, resourceType, type ResourceType } from './objects.ts';
import { decodeSenmlCbor, decodeSenmlJson, encodeSenmlCbor, encodeSenmlJson, type SenmlValue } from './senml.ts';
import { decodeTlv, encodeTlv, intTlvValue, tlvBool, tlvFloat, tlvInt, type TlvEntry } from './tlv.ts';

export const Lwm2mFormat = { Text: 0, LinkFormat: 40, Opaque: 42, Cbor: 60, SenmlJson: 110, SenmlCbor: 112, Tlv: 11542, Json: 11543, LegacyTlv: 1542 } as const;

/** A resource value; SenML's four kinds are LwM2M's (objlnk travels as its "o:i" string). */
export type Lwm2mValue = SenmlValue;

export interface ResourceValue {
  path: string;
  value: Lwm2mValue | undefined;
}

export class ContentError extends Error {
  override readonly name = 'ContentError';
}

function typed(type: ResourceType, v: Buffer, path: string): Lwm2mValue {
  try {
    if (type === 'string') return v.toString('utf8');
    if (type === 'integer' || type === 'time') return tlvInt(v);
    if (type === 'float') return tlvFloat(v);
    if (type === 'boolean') return tlvBool(v);
    return v;
  } catch (err) {
    throw new ContentError(`${path}: ${(err as Error).message}`);
  }
}

function fromText(type: ResourceType, s: string, path: string): Lwm2mValue {
  if (type === 'integer' || type === 'time') {
    if (!/^-?\d{1,19}$/.test(s)) throw new ContentError(`${path}: ${JSON.stringify(s.slice(0, 40))} is not an integer`);
    return Number(s);
  }
  if (type === 'float') {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new ContentError(`${path}: ${JSON.stringify(s.slice(0, 40))} is not a number`);
    return n;
  }
  if (type === 'boolean') {
    if (s !== '0' && s !== '1') throw new ContentError(`${path}: a boolean in plain text is 0 or 1, not ${JSON.stringify(s.slice(0, 10))}`);
    return s === '1';
  }
  if (type === 'opaque') return Buffer.from(s, 'utf8');
  return s;
}

function walkTlv(entries: TlvEntry[], ids: number[], out: ResourceValue[]): void {
  for (const e of entries) {
    if (e.kind === 'instance') {
      if (ids.length !== 1) throw new ContentError(`TLV object instance ${e.id} where /${ids.join('/')} was read`);
      walkTlv(e.children!, [...ids, e.id], out);
    } else if (e.kind === 'multiple') {
      if (ids.length !== 2) throw new ContentError(`TLV multiple resource ${e.id} where /${ids.join('/')} was read`);
      walkTlv(e.children!, [...ids, e.id], out);
    } else {
      const here = [...ids, e.id];
      const want = e.kind === 'resource' ? 3 : 4;
      if (here.length !== want) throw new ContentError(`TLV ${e.kind} ${e.id} does not fit under /${ids.join('/')}`);
      const path = `/${here.join('/')}`;
      out.push({ path, value: typed(resourceType(here[0]!, here[2]!), e.value!, path) });
    }
  }
}

/** `base` is the path that was read (`/3/0`, `/3/0/1`); TLV and text are relative to it. */
export function decodeContent(format: number, payload: Buffer, base: string): ResourceValue[] {
  const ids = parsePath(base);
  if (format === Lwm2mFormat.Text || format === Lwm2mFormat.Opaque) {
    if (ids.length < 3) throw new ContentError(`${format === 0 ? 'plain text' : 'opaque'} carries one resource, but ${base} is not a resource path`);
    const type = resourceType(ids[0]!, ids[2]!);
    return [{ path: base, value: format === Lwm2mFormat.Opaque ? Buffer.from(payload) : fromText(type, payload.toString('utf8'), base) }];
  }
  if (format === Lwm2mFormat.Tlv || format === Lwm2mFormat.LegacyTlv) {
    const entries = decodeTlv(payload);
    const out: ResourceValue[] = [];
    // A read of one resource answers with that resource's own TLV: start one level up. A read of an
    // instance may come wrapped in that instance's TLV (Core §7.4.3.2 allows both).
    if (ids.length >= 3) walkTlv(entries, ids.slice(0, ids.length - 1), out);
    else if (ids.length === 2 && entries.length > 0 && entries.every((e) => e.kind === 'instance' && e.id === ids[1])) walkTlv(entries, ids.slice(0, 1), out);
    else walkTlv(entries, ids, out);
    return out;
  }
  if (format === Lwm2mFormat.SenmlJson || format === Lwm2mFormat.SenmlCbor) {
    const recs = format === Lwm2mFormat.SenmlJson ? decodeSenmlJson(payload) : decodeSenmlCbor(payload);
    return recs.map((r) => {
      const p = parsePathOr(r.name);
      const value = typeof r.value === 'number' && resourceType(p[0]!, p[2] ?? -1) === 'boolean' ? r.value !== 0 : r.value;
      return { path: r.name, value };
    });
  }
  throw new ContentError(`content format ${format} is not one furrow reads (0, 42, 110, 112, 11542)`);
}

function parsePathOr(name: string): number[] {
  try {
    const p = parsePath(name);
    if (p.length < 3) throw new RangeError('not a resource');
    return p;
  } catch {
    throw new ContentError(`SenML name ${JSON.stringify(name.slice(0, 40))} is not a resource path like /3/0/1`);
  }
}

function tlvValue(type: ResourceType, v: Lwm2mValue, path: string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'boolean') return Buffer.from([v ? 1 : 0]);
  if (typeof v === 'number') {
    if (type === 'float' || !Number.isInteger(v)) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v);
      return b;
    }
    return intTlvValue(v);
  }
  if (type === 'integer' || type === 'boolean' || type === 'float') return tlvValue(type, fromText(type, v, path), path);
  return Buffer.from(v, 'utf8');
}

/** The payload writing `value` to the resource `path` in `format`. */
export function encodeResource(format: number, path: string, value: Lwm2mValue): Buffer {
  const ids = parsePath(path);
  if (ids.length !== 3) throw new ContentError(`write one resource at a time: ${path} is not /object/instance/resource`);
  const type = resourceType(ids[0]!, ids[2]!);
  if (format === Lwm2mFormat.Text) return Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'boolean' ? (value ? '1' : '0') : String(value), 'utf8');
  if (format === Lwm2mFormat.Opaque) return Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8');
  if (format === Lwm2mFormat.Tlv) return encodeTlv([{ kind: 'resource', id: ids[2]!, value: tlvValue(type, value, path) }]);
  const coerced = typeof value === 'string' && type !== 'string' && type !== 'opaque' ? fromText(type, value, path) : value;
  if (format === Lwm2mFormat.SenmlJson) return encodeSenmlJson([{ name: path, value: coerced }]);
  if (format === Lwm2mFormat.SenmlCbor) return encodeSenmlCbor([{ name: path, value: coerced }]);
  throw new ContentError(`content format ${format} is not one furrow writes (0, 42, 110, 112, 11542)`);
}
