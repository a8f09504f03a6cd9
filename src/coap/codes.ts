/** CoAP codes as "c.dd" numbers packed the way they travel: (class << 5) | detail (RFC 7252 §3, §12.1). */
export const code = (cls: number, detail: number): number => (cls << 5) | detail;

export const EMPTY = 0;
export const GET = 1;
export const POST = 2;

export const CREATED = code(2, 1);
export const CHANGED = code(2, 4);
export const CONTENT = code(2, 5);
export const BAD_REQUEST = code(4, 0);
export const UNAUTHORIZED = code(4, 1);
export const BAD_OPTION = code(4, 2);
export const FORBIDDEN = code(4, 3);
export const NOT_FOUND = code(4, 4);
export const METHOD_NOT_ALLOWED = code(4, 5);
export const NOT_ACCEPTABLE = code(4, 6);
export const REQUEST_ENTITY_INCOMPLETE = code(4, 8);
export const PRECONDITION_FAILED = code(4, 12);
export const REQUEST_ENTITY_TOO_LARGE = code(4, 13);
export const UNSUPPORTED_CONTENT_FORMAT = code(4, 15);
export const INTERNAL_SERVER_ERROR = code(5, 0);
export const SERVICE_UNAVAILABLE = code(5, 3);

export function codeString(c: number): string {
  return `${c >> 5}.${String(c & 0x1f).padStart(2, '0')}`;
}

/** RFC 7252 §12.2 option numbers furrow uses. */
export const Opt = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  Size1: 60,
} as const;

/** Critical options (odd numbers, RFC 7252 §5.4.1) this server understands; any other one gets 4.02. */
export const KNOWN_CRITICAL = new Set<number>([Opt.IfMatch, Opt.UriHost, Opt.IfNoneMatch, Opt.UriPort, Opt.UriPath, Opt.UriQuery, Opt.Accept, Opt.Block2, Opt.Block1]);

/** RFC 7252 §12.3 / RFC 9052 content formats. */
export const ContentFormat = {
  LinkFormat: 40,
  OctetStream: 42,
  Cbor: 60,
  CoseSign1: 18,
  Text: 0,
} as const;
