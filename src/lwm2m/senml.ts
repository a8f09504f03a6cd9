/**
 * SenML (RFC 8428) as LwM2M 1.1 uses it (Core §7.4.4 SenML-JSON 110, §7.4.6 SenML-CBOR 112): records
 * whose base name + name is the resource path, the value in v (number), vs (string), vb (boolean),
 * vd (opaque, base64url in JSON) or vlo (object link). CBOR uses the RFC 8428 §6 integer labels.
 */
import { decode as cborDecode, encode as cborEncode } from 'cbor-x';

export type SenmlValue = number | string | boolean | Buffer;

export interface SenmlRecord {
  name: string;
  value: SenmlValue | undefined;
}

export class SenmlError extends Error {
  override readonly name = 'SenmlError';
}

// RFC 8428 §6 CBOR labels
const L = { bn: -2, bt: -3, n: 0, v: 2, vs: 3, vb: 4, t: 6, vd: 8 } as const;

function resolve(raw: Array<Record<string | number, unknown>>, label: (k: keyof typeof L) => string | number, vlo: string | number, opaque: (v: unknown, i: number) => Buffer): SenmlRecord[] {
  let bn = '';
  const out: SenmlRecord[] = [];
  raw.forEach((r, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new SenmlError(`SenML record ${i} is not a map`);
    const b = r[label('bn')];
    if (b !== undefined) {
      if (typeof b !== 'string') throw new SenmlError(`SenML record ${i}: bn must be a string`);
      bn = b;
    }
    const n = r[label('n')] ?? '';
    if (typeof n !== 'string') throw new SenmlError(`SenML record ${i}: n must be a string`);
    const vals: Array<[string, unknown]> = [['v', r[label('v')]], ['vs', r[label('vs')]], ['vb', r[label('vb')]], ['vd', r[label('vd')]], ['vlo', r[vlo]]].filter(([, v]) => v !== undefined) as Array<[string, unknown]>;
    if (vals.length > 1) throw new SenmlError(`SenML record ${i} (${bn + n}) has more than one value field`);
    let value: SenmlValue | undefined;
    const [k, v] = vals[0] ?? [];
    if (k === 'v') {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new SenmlError(`SenML record ${i}: v must be a number`);
      value = Number(v);
    } else if (k === 'vs' || k === 'vlo') {
      if (typeof v !== 'string') throw new SenmlError(`SenML record ${i}: ${k} must be a string`);
      value = v;
    } else if (k === 'vb') {
      if (typeof v !== 'boolean') throw new SenmlError(`SenML record ${i}: vb must be a boolean`);
      value = v;
    } else if (k === 'vd') value = opaque(v, i);
    out.push({ name: bn + n, value });
  });
  return out;
}

export function decodeSenmlJson(payload: Buffer): SenmlRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new SenmlError(`SenML-JSON is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new SenmlError('SenML-JSON must be an array of records');
  return resolve(raw as Array<Record<string, unknown>>, (k) => k, 'vlo', (v, i) => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(v)) throw new SenmlError(`SenML record ${i}: vd must be base64url text`);
    return Buffer.from(v, 'base64url');
  });
}

export function decodeSenmlCbor(payload: Buffer): SenmlRecord[] {
  let raw: unknown;
  try {
    raw = cborDecode(payload);
  } catch (err) {
    throw new SenmlError(`SenML-CBOR is not CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new SenmlError('SenML-CBOR must be an array of records');
  // cbor-x decodes maps with integer keys to plain objects (string keys) or Maps; accept both.
  const recs = raw.map((r) => (r instanceof Map ? Object.fromEntries(r) : r) as Record<string, unknown>);
  return resolve(recs, (k) => String(L[k]), 'vlo', (v, i) => {
    if (!(v instanceof Uint8Array)) throw new SenmlError(`SenML record ${i}: vd must be a byte string`);
    return Buffer.from(v);
  });
}

function jsonValue(v: SenmlValue): [string, unknown] {
  if (typeof v === 'number') return ['v', v];
  if (typeof v === 'boolean') return ['vb', v];
  if (typeof v === 'string') return ['vs', v];
  return ['vd', v.toString('base64url')];
}

export function encodeSenmlJson(records: SenmlRecord[]): Buffer {
  return Buffer.from(JSON.stringify(records.map((r) => (r.value === undefined ? { n: r.name } : Object.fromEntries([['n', r.name], jsonValue(r.value)])))), 'utf8');
}

export function encodeSenmlCbor(records: SenmlRecord[]): Buffer {
  return Buffer.from(
    cborEncode(
      records.map((r) => {
        const m = new Map<number, unknown>([[L.n, r.name]]);
        if (r.value === undefined) return m;
        const [k, v] = jsonValue(r.value);
        m.set(L[k as 'v' | 'vs' | 'vb' | 'vd'], k === 'vd' ? r.value : v);
        return m;
      }),
    ),
  );
}
