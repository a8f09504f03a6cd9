/**
 * The CoAP message layer (RFC 7252 §4) over any number of DatagramTransports: CON→piggybacked ACK,
 * NON→NON, Empty CON (ping)→RST, duplicate detection per peer, unknown critical options, routing to
 * one resource per path. Handlers are synchronous, so every reply is piggybacked and no request is
 * ever processed twice. Replies go out on the transport the request came in on.
 */
import type { DatagramTransport, PeerAddress } from '../bearer/types.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { BAD_OPTION, codeString, EMPTY, INTERNAL_SERVER_ERROR, KNOWN_CRITICAL, NOT_FOUND, Opt, ContentFormat, SERVICE_UNAVAILABLE } from './codes.ts';
import { decodeMessage, encodeMessage, encodeUint, MessageFormatError, options, type CoapMessage, type CoapOption } from './message.ts';
import { ClientExchange } from './exchange.ts';
import { PeerTable, type PeerLimits } from './peers.ts';

export interface CoapRequest {
  msg: CoapMessage;
  peer: PeerAddress;
  transport: DatagramTransport;
  /** Uri-Path segments after the resource's own segment(s). */
  rest: string[];
}

export interface CoapResponse {
  code: number;
  options?: CoapOption[];
  payload?: Buffer;
}

export interface Resource {
  /** Uri-Path segments that select this resource, e.g. ['p'] or ['.well-known', 'core']. */
  readonly path: string[];
  /** RFC 6690 link attributes, e.g. `rt="furrow.patch";ct=42`. */
  readonly linkAttrs: string;
  /** Returns the response, or undefined to drop the request silently. */
  handle(req: CoapRequest): CoapResponse | undefined;
}

export interface ServerStats {
  received: number;
  malformed: number;
  duplicates: number;
  rateLimited: number;
  oversize: number;
  handlerErrors: number;
  replies: number;
}

export interface CoapServerOptions {
  log: Logger;
  clock: Clock;
  limits: PeerLimits;
  /** Datagrams larger than this are dropped unread. */
  maxDatagram: number;
}

/** A diagnostic payload (RFC 7252 §5.5.2): UTF-8 text saying what was wrong. */
export function errorResponse(code: number, message: string, extra: CoapOption[] = []): CoapResponse {
  return { code, options: [{ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Text) }, ...extra], payload: Buffer.from(message.slice(0, 200), 'utf8') };
}

export class CoapServer {
  readonly stats: ServerStats = { received: 0, malformed: 0, duplicates: 0, rateLimited: 0, oversize: 0, handlerErrors: 0, replies: 0 };
  private readonly peers: PeerTable;
  private readonly routes = new Map<string, Resource>();
  private readonly transports: DatagramTransport[] = [];
  private nextMid = Math.floor(Math.random() * 0x10000);
  private sweepTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Requests this server sends (LwM2M device management); responses to them are matched here. */
  readonly exchange: ClientExchange;

  constructor(private readonly opts: CoapServerOptions) {
    this.peers = new PeerTable(opts.limits);
    this.exchange = new ClientExchange(() => this.mid(), opts.log);
  }

  setLimits(limits: PeerLimits): void {
    this.peers.setLimits(limits);
  }

  get peerCount(): number {
    return this.peers.size;
  }

  addResource(r: Resource): void {
    this.routes.set(r.path.join('/'), r);
  }

  resources(): Resource[] {
    return [...this.routes.values()];
  }

  /** Attach a transport; its datagrams are handled from then on (the caller starts/stops it). */
  attach(t: DatagramTransport): void {
    this.transports.push(t);
    t.onMessage((data, peer) => {
      if (this.running) this.handleDatagram(data, peer, t);
    });
  }

  start(): void {
    this.running = true;
    this.sweepTimer = setInterval(() => this.peers.sweep(this.opts.clock.monotonic()), 30_000);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.running = false;
    this.exchange.stop();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.peers.clear();
  }

  private peerKey(peer: PeerAddress): string {
    return `${peer.bearer}|${peer.address}|${peer.port}`;
  }

  private warn(key: string, peer: PeerAddress, msg: string, extra: Record<string, unknown> = {}): void {
    const w = this.peers.shouldWarn(key, this.opts.clock.monotonic());
    if (w.warn) this.opts.log.warn({ peer: `${peer.address}:${peer.port}`, bearer: peer.bearer, suppressed: w.suppressed || undefined, ...extra }, msg);
  }

  private send(t: DatagramTransport, bytes: Buffer, peer: PeerAddress): void {
    this.stats.replies++;
    t.send(bytes, peer).catch((err: unknown) => this.opts.log.warn({ peer: `${peer.address}:${peer.port}`, err: (err as Error).message }, 'reply not sent'));
  }

  /** Entry point for every datagram; never throws. */
  handleDatagram(data: Buffer, peer: PeerAddress, t: DatagramTransport): void {
    this.stats.received++;
    const key = this.peerKey(peer);
    const now = this.opts.clock.monotonic();
    if (data.length > this.opts.maxDatagram) {
      this.stats.oversize++;
      this.warn(key, peer, 'dropped oversize datagram', { bytes: data.length });
      return;
    }
    if (!this.peers.admit(key, now)) {
      // Silent drop: a CON sender backs off and retransmits (RFC 7252 §4.2), which is the pacing we want.
      this.stats.rateLimited++;
      this.warn(key, peer, 'peer over its request rate; dropping');
      return;
    }
    let msg: CoapMessage;
    try {
      msg = decodeMessage(data);
    } catch (err) {
      this.stats.malformed++;
      this.warn(key, peer, 'malformed CoAP message', { reason: (err as Error).message });
      // RFC 7252 §4.2: a CON with a format error is rejected with RST (when the MID is readable).
      if (err instanceof MessageFormatError && data.length >= 4 && data[0]! >> 6 === 1 && ((data[0]! >> 4) & 3) === 0) {
        this.send(t, rst(data.readUInt16BE(2)), peer);
      }
      return;
    }
    if (msg.code === EMPTY) {
      // RFC 7252 §4.3: an Empty CON is a ping, answered with RST. Empty ACK/RST answer our own CONs.
      if (msg.type === 'CON') this.send(t, rst(msg.messageId), peer);
      else this.exchange.handle(msg, peer, t);
      return;
    }
    if (msg.code >> 5 !== 0) {
      // A response: to a request this server sent (the exchange matches it), or unsolicited (RST if CON).
      this.exchange.handle(msg, peer, t);
      return;
    }
    if (msg.type === 'ACK' || msg.type === 'RST') {
      // A request in an ACK/RST is malformed.
      return;
    }
    const cached = this.peers.cachedReply(key, msg.messageId);
    // A retransmission repeats the token as well. The same MID with another token is a new request
    // (a NAT that handed this address:port to another device, or a spoofed datagram): it must not be
    // answered with someone else's cached reply.
    if (cached && cached.subarray(4, 4 + (cached[0]! & 0x0f)).equals(msg.token)) {
      // RFC 7252 §4.5: a duplicate CON gets the same ACK again; the request is not processed twice.
      this.stats.duplicates++;
      this.send(t, cached, peer);
      return;
    }
    const res = this.dispatch(msg, peer, t, key);
    if (!res) return;
    let bytes: Buffer;
    try {
      bytes = encodeMessage({
        type: msg.type === 'CON' ? 'ACK' : 'NON',
        code: res.code,
        messageId: msg.type === 'CON' ? msg.messageId : this.mid(),
        token: msg.token,
        options: res.options ?? [],
        payload: res.payload ?? Buffer.alloc(0),
      });
    } catch (err) {
      this.stats.handlerErrors++;
      this.opts.log.error({ peer: `${peer.address}:${peer.port}`, err }, 'could not encode reply');
      return;
    }
    // A refusal (5.03) is not remembered: a retransmission asks again, and the answer may have become
    // yes meanwhile; replaying "not now" would only cost another downlink and more waiting.
    if (res.code !== SERVICE_UNAVAILABLE) this.peers.remember(key, msg.messageId, bytes, now);
    this.send(t, bytes, peer);
  }

  /** The next message ID, shared by replies and the requests the exchange sends (one space per peer). */
  mid(): number {
    this.nextMid = (this.nextMid + 1) & 0xffff;
    return this.nextMid;
  }

  private dispatch(msg: CoapMessage, peer: PeerAddress, t: DatagramTransport, key: string): CoapResponse | undefined {
    for (const o of msg.options) {
      // RFC 7252 §5.4.1: an unrecognised critical option in a CON gets 4.02; in a NON the message is rejected.
      if (o.number & 1 && !KNOWN_CRITICAL.has(o.number)) {
        this.warn(key, peer, 'request carries an unsupported critical option', { option: o.number });
        if (msg.type === 'NON') {
          this.send(t, rst(msg.messageId), peer);
          return undefined;
        }
        return errorResponse(BAD_OPTION, `critical option ${o.number} is not supported`);
      }
    }
    const path = options(msg, Opt.UriPath).map((v) => v.toString('utf8'));
    const resource = this.routes.get(path.slice(0, 2).join('/')) ?? this.routes.get(path[0] ?? '');
    if (!resource) return errorResponse(NOT_FOUND, `no resource /${path.join('/')}`);
    try {
      return resource.handle({ msg, peer, transport: t, rest: path.slice(resource.path.length) });
    } catch (err) {
      this.stats.handlerErrors++;
      this.opts.log.error({ peer: `${peer.address}:${peer.port}`, path: `/${path.join('/')}`, err }, 'resource handler failed');
      return errorResponse(INTERNAL_SERVER_ERROR, 'internal error; retry later');
    }
  }
}

function rst(mid: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = 0x70; // version 1, type RST, no token
  b.writeUInt16BE(mid, 2);
  return b;
}

export { codeString };
