/**
 * The furrow SCHC context: a fixed rule set for CoAP over LoRaWAN (RFC 8724 rules, RFC 8824 field
 * names, RFC 9011 RuleID-in-FPort). Both ends hold the same table; the device's copy is generated from
 * this file. IPv6/UDP are not carried at all (the LoRaWAN session names the device), so only the CoAP
 * header is compressed. Rule 0 is the mandatory no-compression rule (RFC 8724 §6).
 */
export type Direction = 'up' | 'down';
export type FieldName = 'version' | 'type' | 'tkl' | 'code' | 'mid' | 'token' | 'option';
export type Value = number | Buffer;

export type MatchingOperator = { kind: 'equal' } | { kind: 'ignore' } | { kind: 'match-mapping' } | { kind: 'msb'; bits: number };
export type Action = 'not-sent' | 'value-sent' | 'mapping-sent' | 'lsb';

export interface FieldDescriptor {
  field: FieldName;
  /** Option number, for field 'option'. */
  option?: number;
  /** Direction indicator (RFC 8724 §7.1); undefined = bidirectional. */
  di?: Direction;
  tv?: Value | Value[];
  mo: MatchingOperator;
  cda: Action;
}

export interface Rule {
  id: number;
  name: string;
  /** The direction this rule compresses; a rule is tried only for messages going that way. */
  direction: Direction | 'bi';
  fields: FieldDescriptor[];
}

/** Fixed bit lengths of the CoAP header fields (RFC 7252 §3). Token and options are variable. */
export const HEADER_BITS: Partial<Record<FieldName, number>> = { version: 2, type: 2, tkl: 4, code: 8, mid: 16 };

export const CoapType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export const CoapCode = { EMPTY: 0x00, GET: 0x01, POST: 0x02, CHANGED: 0x44, CONTENT: 0x45, CONTINUE: 0x5f, SERVICE_UNAVAILABLE: 0xa3 } as const;
export const CoapOptionNo = { ETAG: 4, URI_PATH: 11, CONTENT_FORMAT: 12, MAX_AGE: 14, BLOCK2: 23, BLOCK1: 27, SIZE2: 28 } as const;

const eq = { kind: 'equal' } as const;
const map = { kind: 'match-mapping' } as const;
const ign = { kind: 'ignore' } as const;
const str = (s: string): Buffer => Buffer.from(s, 'utf8');

const ver: FieldDescriptor = { field: 'version', tv: 1, mo: eq, cda: 'not-sent' };
const typeSent: FieldDescriptor = { field: 'type', mo: ign, cda: 'value-sent' };
const tklSent: FieldDescriptor = { field: 'tkl', mo: ign, cda: 'value-sent' };
const midSent: FieldDescriptor = { field: 'mid', mo: ign, cda: 'value-sent' };
const tokenSent: FieldDescriptor = { field: 'token', mo: ign, cda: 'value-sent' };
const code = (c: number): FieldDescriptor => ({ field: 'code', tv: c, mo: eq, cda: 'not-sent' });
const optSent = (option: number): FieldDescriptor => ({ field: 'option', option, mo: ign, cda: 'value-sent' });
const optEq = (option: number, tv: Buffer): FieldDescriptor => ({ field: 'option', option, tv, mo: eq, cda: 'not-sent' });
const optMap = (option: number, tv: Buffer[]): FieldDescriptor => ({ field: 'option', option, tv, mo: map, cda: 'mapping-sent' });
const head = (c: FieldDescriptor): FieldDescriptor[] => [ver, typeSent, tklSent, c, midSent, tokenSent];

/** CBOR Content-Format 60 as a CoAP uint option value. */
const CF_CBOR = Buffer.from([60]);
/** application/octet-stream (42, patch bytes) and application/cose; cose-type="cose-sign1" (18, manifest). */
const BLOCK_FORMATS = [Buffer.from([42]), Buffer.from([18])];
/** text/plain (0, a uint 0 is the empty string: diagnostics) and CBOR (60): what a /c or /r answer carries. */
const ANSWER_FORMATS = [Buffer.alloc(0), CF_CBOR];
const POST_PATHS = [str('c'), str('r')];
const anyCode: FieldDescriptor = { field: 'code', mo: ign, cda: 'value-sent' };

export const NO_COMPRESSION_RULE_ID = 0;

export const FURROW_RULES: readonly Rule[] = [
  {
    id: 1,
    name: 'POST /c or /r, CBOR envelope',
    direction: 'up',
    fields: [...head(code(CoapCode.POST)), optMap(CoapOptionNo.URI_PATH, [str('c'), str('r')]), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR)],
  },
  {
    id: 2,
    name: 'GET /m|p/<token> with Block2 and Size2 request',
    direction: 'up',
    fields: [
      ...head(code(CoapCode.GET)),
      optMap(CoapOptionNo.URI_PATH, [str('m'), str('p')]),
      optSent(CoapOptionNo.URI_PATH),
      optSent(CoapOptionNo.BLOCK2),
      optEq(CoapOptionNo.SIZE2, Buffer.alloc(0)),
    ],
  },
  {
    id: 3,
    name: 'GET /m|p/<token> with Block2',
    direction: 'up',
    fields: [...head(code(CoapCode.GET)), optMap(CoapOptionNo.URI_PATH, [str('m'), str('p')]), optSent(CoapOptionNo.URI_PATH), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 4,
    name: 'empty ACK or RST',
    direction: 'bi',
    fields: [
      ver,
      { field: 'type', tv: [CoapType.ACK, CoapType.RST], mo: map, cda: 'mapping-sent' },
      { field: 'tkl', tv: 0, mo: eq, cda: 'not-sent' },
      code(CoapCode.EMPTY),
      midSent,
    ],
  },
  {
    id: 5,
    name: '2.05 block with ETag and Block2',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optSent(CoapOptionNo.ETAG), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 6,
    name: '2.05 first block with ETag, Block2 and Size2',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optSent(CoapOptionNo.ETAG), optSent(CoapOptionNo.BLOCK2), optSent(CoapOptionNo.SIZE2)],
  },
  {
    id: 7,
    name: '2.05 CBOR body (check-in answer)',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR)],
  },
  {
    id: 8,
    name: 'any response code, no options (2.04, 4.xx with diagnostic)',
    direction: 'down',
    fields: [ver, typeSent, tklSent, { field: 'code', mo: ign, cda: 'value-sent' }, midSent, tokenSent],
  },
  {
    id: 9,
    name: '5.03 with Max-Age',
    direction: 'down',
    fields: [...head(code(CoapCode.SERVICE_UNAVAILABLE)), optSent(CoapOptionNo.MAX_AGE)],
  },
  {
    id: 10,
    name: '2.05 block with ETag, Content-Format octet-stream|COSE and Block2 (patch, manifest)',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optSent(CoapOptionNo.ETAG), optMap(CoapOptionNo.CONTENT_FORMAT, BLOCK_FORMATS), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 11,
    name: '2.05 first block with ETag, Content-Format octet-stream|COSE, Block2 and Size2',
    direction: 'down',
    fields: [
      ...head(code(CoapCode.CONTENT)),
      optSent(CoapOptionNo.ETAG),
      optMap(CoapOptionNo.CONTENT_FORMAT, BLOCK_FORMATS),
      optSent(CoapOptionNo.BLOCK2),
      optSent(CoapOptionNo.SIZE2),
    ],
  },
  // Block-wise POST /c and /r (src/coap/PROTOCOL.md "Small frames", RFC 7959 §2.5 and §3.3): what a
  // DR0-2 device and the gateway exchange when a check-in or report does not fit one frame.
  {
    id: 12,
    name: 'POST /c or /r, CBOR, Block1 (one block of the envelope)',
    direction: 'up',
    fields: [...head(code(CoapCode.POST)), optMap(CoapOptionNo.URI_PATH, POST_PATHS), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR), optSent(CoapOptionNo.BLOCK1)],
  },
  {
    id: 13,
    name: 'POST /c or /r with only Block2 (asks for a later block of the answer)',
    direction: 'up',
    fields: [...head(code(CoapCode.POST)), optMap(CoapOptionNo.URI_PATH, POST_PATHS), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 14,
    name: 'POST /c or /r, CBOR, Block2 (whole envelope, answer in blocks)',
    direction: 'up',
    fields: [...head(code(CoapCode.POST)), optMap(CoapOptionNo.URI_PATH, POST_PATHS), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 15,
    name: '2.31 Continue with Block1',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTINUE)), optSent(CoapOptionNo.BLOCK1)],
  },
  {
    id: 16,
    name: '2.05 CBOR, first answer block after the last Block1: Block2, Block1, Size2',
    direction: 'down',
    fields: [
      ...head(code(CoapCode.CONTENT)),
      optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR),
      optSent(CoapOptionNo.BLOCK2),
      optSent(CoapOptionNo.BLOCK1),
      optSent(CoapOptionNo.SIZE2),
    ],
  },
  {
    id: 17,
    name: '2.05 CBOR, later answer block: Block2',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR), optSent(CoapOptionNo.BLOCK2)],
  },
  {
    id: 18,
    name: '2.05 CBOR, first answer block after a one-datagram POST: Block2, Size2',
    direction: 'down',
    fields: [...head(code(CoapCode.CONTENT)), optEq(CoapOptionNo.CONTENT_FORMAT, CF_CBOR), optSent(CoapOptionNo.BLOCK2), optSent(CoapOptionNo.SIZE2)],
  },
  {
    id: 19,
    name: 'any code with Block1 only (2.04 to the last block of a report)',
    direction: 'down',
    fields: [ver, typeSent, tklSent, anyCode, midSent, tokenSent, optSent(CoapOptionNo.BLOCK1)],
  },
  {
    id: 20,
    name: 'any code, text or CBOR, Block1 (an answer to the last block that fits one block: 2.05, 4.01, 4.xx)',
    direction: 'down',
    fields: [ver, typeSent, tklSent, anyCode, midSent, tokenSent, optMap(CoapOptionNo.CONTENT_FORMAT, ANSWER_FORMATS), optSent(CoapOptionNo.BLOCK1)],
  },
  {
    id: 21,
    name: 'any code, text or CBOR (4.08 for a block out of order, other diagnostics)',
    direction: 'down',
    fields: [ver, typeSent, tklSent, anyCode, midSent, tokenSent, optMap(CoapOptionNo.CONTENT_FORMAT, ANSWER_FORMATS)],
  },
];

/**
 * Bytes the rules add around a Block2 payload in the worst case the furrow device profile allows:
 * token ≤ 2 bytes, 8-byte ETag, Block2 ≤ 3 bytes, Size2 ≤ 3 bytes (only on block 0, whose Block2 is
 * 1 byte), Content-Format absent or 42/18: rule 11 is 147 bits on block 0, rule 10 is 135 bits later,
 * so 19 bytes covers both with padding. Used to pick the block size per data rate; the transport still checks
 * every frame against the regional maximum and refuses one that does not fit.
 */
export const MAX_BLOCK_OVERHEAD = 19;
