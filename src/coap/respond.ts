/** Helpers shared by the resources: method checks, POST body limits, Block2 replies. */
import { createHash } from 'node:crypto';
import { BAD_OPTION, BAD_REQUEST, METHOD_NOT_ALLOWED, NOT_FOUND, Opt, REQUEST_ENTITY_TOO_LARGE, UNSUPPORTED_CONTENT_FORMAT, ContentFormat, CONTENT } from './codes.ts';
import { blockSize, decodeBlock, encodeBlock, sliceBlock2, szxForDatagram, szxForPayload, type BlockOption } from './block.ts';
import { encodeUint, option, decodeUint, type CoapOption } from './message.ts';
import { errorResponse, type CoapRequest, type CoapResponse } from './server.ts';

/**
 * The SZX that reaches this peer, capped by configuration: the bearer's datagram size, and the peer's
 * own limit when the transport knows one (a LoRa device at DR0 takes 32-byte blocks, not the 128 of DR5).
 */
export function bearerSzx(req: CoapRequest, maxSzx: number): number {
  const peerLimit = peerPayloadLimit(req);
  return Math.min(maxSzx, szxForDatagram(req.transport.maxDatagram), peerLimit === undefined ? 6 : szxForPayload(peerLimit));
}

/** The transport's per-peer payload limit (DatagramTransport.maxPayloadFor), if it has one. */
export function peerPayloadLimit(req: CoapRequest): number | undefined {
  return req.transport.maxPayloadFor?.(req.peer);
}

export function requireMethod(req: CoapRequest, method: number, name: string): CoapResponse | undefined {
  if (req.msg.code !== method) return errorResponse(METHOD_NOT_ALLOWED, `only ${name} is allowed here`);
  return undefined;
}

export function requireNoRest(req: CoapRequest): CoapResponse | undefined {
  if (req.rest.length > 0) return errorResponse(NOT_FOUND, `no resource below this path: /${req.rest.join('/')}`);
  return undefined;
}

/** POST bodies: CBOR, small, in one datagram (Block1 is not accepted: check-ins fit one block). */
export function checkPostBody(req: CoapRequest, maxBytes: number): CoapResponse | undefined {
  const size1 = [{ number: Opt.Size1, value: encodeUint(maxBytes) }];
  if (option(req.msg, Opt.Block1)) return errorResponse(REQUEST_ENTITY_TOO_LARGE, `request bodies must fit one datagram of at most ${maxBytes} bytes`, size1);
  // RFC 7252 §5.9.2.9: 4.13 carries Size1, the largest body the server accepts.
  if (req.msg.payload.length > maxBytes) return errorResponse(REQUEST_ENTITY_TOO_LARGE, `request body of ${req.msg.payload.length} bytes exceeds ${maxBytes}`, size1);
  if (req.msg.payload.length === 0) return errorResponse(BAD_REQUEST, 'request body is empty; expected a CBOR envelope');
  const cf = option(req.msg, Opt.ContentFormat);
  if (cf && decodeUint(cf) !== ContentFormat.Cbor) return errorResponse(UNSUPPORTED_CONTENT_FORMAT, `Content-Format ${decodeUint(cf)} is not application/cbor (60)`);
  return undefined;
}

export function requestedBlock2(req: CoapRequest): { ok: true; block: BlockOption | undefined } | { ok: false; res: CoapResponse } {
  const raw = option(req.msg, Opt.Block2);
  if (!raw) return { ok: true, block: undefined };
  const block = decodeBlock(raw);
  if (!block) return { ok: false, res: errorResponse(BAD_OPTION, 'Block2 option longer than 3 bytes') };
  return { ok: true, block };
}

export function etagOf(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest().subarray(0, 8);
}

/**
 * One block of a representation held in memory (RFC 7959 §2.2-2.4). Block2 is added whenever the
 * client asked for it or the body does not fit one block; Size2 (RFC 7959 §4) on request or on block 0.
 */
export function block2Reply(
  req: CoapRequest,
  data: Buffer,
  opts: { contentFormat: number; etag: Buffer; maxSzx: number; block: BlockOption | undefined },
): { res: CoapResponse; offset: number; length: number; more: boolean } | { res: CoapResponse; offset: -1; length: 0; more: false } {
  const slice = sliceBlock2(data.length, opts.block, opts.maxSzx, opts.maxSzx);
  if (!slice.ok) return { res: errorResponse(BAD_OPTION, slice.reason), offset: -1, length: 0, more: false };
  const options: CoapOption[] = [
    // RFC 7252 §5.10.6: ETag names this representation; a device resuming checks it is unchanged.
    { number: Opt.ETag, value: opts.etag },
    { number: Opt.ContentFormat, value: encodeUint(opts.contentFormat) },
  ];
  const whole = !opts.block && data.length <= blockSize(slice.szx);
  if (!whole) options.push({ number: Opt.Block2, value: encodeBlock({ num: slice.num, more: slice.more, szx: slice.szx }) });
  if (!whole && (option(req.msg, Opt.Size2) !== undefined || slice.num === 0)) options.push({ number: Opt.Size2, value: encodeUint(data.length) });
  return { res: { code: CONTENT, options, payload: data.subarray(slice.offset, slice.offset + slice.length) }, offset: slice.offset, length: slice.length, more: slice.more };
}
