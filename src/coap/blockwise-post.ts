/**
 * Block-wise POST for devices whose frames are smaller than a check-in (LoRa DR0-2, PROTOCOL.md "Small
 * frames"): the request body arrives in Block1 blocks (RFC 7959 §2.5, atomic: 2.31 Continue until the
 * last one), the wrapped resource sees one ordinary POST with the whole body (so the MAC covers exact
 * bytes and the counter advances once), and an answer larger than the device's block size goes back
 * with Block2; later blocks are asked for with a POST carrying only Block2 (RFC 7959 §3.3, Figure 9)
 * and are served from the copy held here. Opt-in per request: a device that sends neither Block1 nor
 * Block2 (protocol v1 firmware) gets exactly what the resource returns.
 */
import { BAD_OPTION, code, Opt, POST, REQUEST_ENTITY_INCOMPLETE, REQUEST_ENTITY_TOO_LARGE } from './codes.ts';
import { blockSize, decodeBlock, encodeBlock, type BlockOption } from './block.ts';
import { encodeUint, option } from './message.ts';
import { EXCHANGE_LIFETIME_MS } from './peers.ts';
import type { Logger } from '../log.ts';
import { bearerSzx, peerPayloadLimit } from './respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from './server.ts';

const CONTINUE = code(2, 31);
/** Bounds memory: at most this many partial bodies / held answers (oldest dropped first). */
const MAX_ENTRIES = 2000;

interface Partial { parts: Buffer[]; length: number; szx: number; at: number }
interface Held { res: CoapResponse; at: number }

export class BlockwisePost implements Resource {
  readonly path: string[];
  readonly linkAttrs: string;
  private readonly partial = new Map<string, Partial>();
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly inner: Resource,
    private readonly opts: { maxBytes: () => number; maxSzx: () => number; monotonic: () => number; log: Logger },
  ) {
    this.path = inner.path;
    this.linkAttrs = inner.linkAttrs;
  }

  handle(req: CoapRequest): CoapResponse | undefined {
    const raw1 = option(req.msg, Opt.Block1);
    const raw2 = option(req.msg, Opt.Block2);
    if (req.msg.code !== POST || (!raw1 && !raw2)) return this.single(req);
    const b1 = raw1 ? decodeBlock(raw1) : undefined;
    const b2 = raw2 ? decodeBlock(raw2) : undefined;
    if ((raw1 && !b1) || (raw2 && !b2) || b1?.szx === 7 || b2?.szx === 7) return errorResponse(BAD_OPTION, 'Block1/Block2 must be at most 3 bytes with SZX 0..6');
    const key = `${req.peer.bearer}|${req.peer.address}|${req.peer.port}|${this.path.join('/')}`;
    const now = this.opts.monotonic();
    this.sweep(now);
    // A POST with Block2 and no body asks for a later block of the answer held for this peer.
    if (!b1 && b2 && b2.num > 0 && req.msg.payload.length === 0) {
      const h = this.held.get(key);
      if (!h) return errorResponse(REQUEST_ENTITY_INCOMPLETE, 'no answer is held for this device; send the request again');
      return this.slice(h.res, b2.num, b2.szx, req);
    }
    let body = req.msg.payload;
    if (b1) {
      const r = this.collect(key, b1, req.msg.payload, now, bearerSzx(req, this.opts.maxSzx()));
      if ('res' in r) return r.res;
      body = r.body;
    }
    const options = req.msg.options.filter((o) => o.number !== Opt.Block1 && o.number !== Opt.Block2);
    const res = this.inner.handle({ ...req, msg: { ...req.msg, options, payload: body } });
    if (!res) return res;
    const szx = Math.min(bearerSzx(req, this.opts.maxSzx()), b2?.szx ?? 6, b1?.szx ?? 6);
    const out = (res.payload?.length ?? 0) > blockSize(szx) ? this.hold(key, res, now, szx, req) : res;
    // RFC 7959 §2.3: the answer to the last Block1 block names it (M = 0).
    if (b1) out.options = [...(out.options ?? []), { number: Opt.Block1, value: encodeBlock({ num: b1.num, more: false, szx: b1.szx }) }];
    return out;
  }

  /** A one-datagram POST (protocol v1): answered as is; say why a peer with small frames gets nothing. */
  private single(req: CoapRequest): CoapResponse | undefined {
    const res = this.inner.handle(req);
    const limit = peerPayloadLimit(req);
    if (res?.payload && limit !== undefined && res.payload.length > limit) {
      this.opts.log.warn({ peer: req.peer.address, bearer: req.peer.bearer, path: `/${this.path.join('/')}`, bytes: res.payload.length, limit }, "answer is larger than this device's frames carry; it must send the request block-wise (PROTOCOL.md, Small frames) or use a faster data rate");
    }
    return res;
  }

  /** `peerSzx`: the block size this peer's frames carry now; a 2.31 asks for it when it is smaller (RFC 7959 §2.5). */
  private collect(key: string, b1: BlockOption, data: Buffer, now: number, peerSzx: number): { body: Buffer } | { res: CoapResponse } {
    const max = this.opts.maxBytes();
    if (b1.num === 0) this.partial.set(key, { parts: [], length: 0, szx: b1.szx, at: now });
    const p = this.partial.get(key);
    const size1 = [{ number: Opt.Size1, value: encodeUint(max) }];
    // A smaller block size than before is fine (the device follows a 2.31 that asked for it) as long
    // as the block starts right after the bytes held; a larger one is not.
    if (!p || b1.szx > p.szx || b1.num * blockSize(b1.szx) !== p.length) {
      this.partial.delete(key);
      return { res: errorResponse(REQUEST_ENTITY_INCOMPLETE, `Block1 block ${b1.num} does not follow the ${p?.length ?? 0} bytes received; start again at block 0`) };
    }
    if ((b1.more && data.length !== blockSize(b1.szx)) || data.length > blockSize(b1.szx)) {
      this.partial.delete(key);
      return { res: errorResponse(REQUEST_ENTITY_INCOMPLETE, `Block1 block ${b1.num} carries ${data.length} bytes, not ${blockSize(b1.szx)}`) };
    }
    if (p.length + data.length > max) {
      this.partial.delete(key);
      return { res: errorResponse(REQUEST_ENTITY_TOO_LARGE, `request body exceeds ${max} bytes`, size1) };
    }
    p.parts.push(data);
    p.length += data.length;
    p.szx = b1.szx;
    p.at = now;
    if (b1.more) {
      this.bound(this.partial);
      return { res: { code: CONTINUE, options: [{ number: Opt.Block1, value: encodeBlock({ num: b1.num, more: true, szx: Math.min(b1.szx, peerSzx) }) }] } };
    }
    this.partial.delete(key);
    return { body: Buffer.concat(p.parts, p.length) };
  }

  private hold(key: string, res: CoapResponse, now: number, szx: number, req: CoapRequest): CoapResponse {
    this.held.set(key, { res, at: now });
    this.bound(this.held);
    return this.slice(res, 0, szx, req);
  }

  private slice(res: CoapResponse, num: number, szx: number, req: CoapRequest): CoapResponse {
    const payload = res.payload ?? Buffer.alloc(0);
    const size = blockSize(Math.min(szx, bearerSzx(req, this.opts.maxSzx())));
    const offset = num * size;
    if (offset >= payload.length) return errorResponse(BAD_OPTION, `block ${num} of ${size} bytes starts past the end of the ${payload.length}-byte answer`);
    const more = offset + size < payload.length;
    const options = [...(res.options ?? []), { number: Opt.Block2, value: encodeBlock({ num, more, szx: Math.log2(size) - 4 }) }];
    if (num === 0) options.push({ number: Opt.Size2, value: encodeUint(payload.length) });
    return { code: res.code, options, payload: payload.subarray(offset, offset + size) };
  }

  private bound(m: Map<string, unknown>): void {
    while (m.size > MAX_ENTRIES) m.delete(m.keys().next().value!);
  }

  private sweep(now: number): void {
    for (const m of [this.partial, this.held] as Array<Map<string, { at: number }>>) {
      for (const [k, v] of m) if (now - v.at > EXCHANGE_LIFETIME_MS) m.delete(k);
    }
  }
}
