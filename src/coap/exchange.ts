/**
 * The client side of the message layer: requests the gateway sends to a peer (an LwM2M client's
 * Read/Write/Execute/Observe) and the matching of what comes back. RFC 7252 §4.2: a CON is retransmitted
 * after ACK_TIMEOUT × rand(1, ACK_RANDOM_FACTOR), doubling, MAX_RETRANSMIT times; an Empty ACK means the
 * response follows separately (§5.2.2), matched by token; a RST ends the exchange. RFC 7641: an
 * observation keeps its token and hears every notification until cancelled.
 */
import { randomBytes } from 'node:crypto';
import type { DatagramTransport, PeerAddress } from '../bearer/types.ts';
import type { Logger } from '../log.ts';
import { EMPTY, Opt } from './codes.ts';
import { encodeMessage, option, type CoapMessage, type CoapOption } from './message.ts';

/** RFC 7252 §4.8 transmission parameters. */
export interface TxParams {
  ackTimeoutMs: number;
  ackRandomFactor: number;
  maxRetransmit: number;
  /** How long a separate response may take after its Empty ACK (RFC 7252 §5.2.2 leaves it open). */
  separateTimeoutMs: number;
}

export const DEFAULT_TX: TxParams = { ackTimeoutMs: 2000, ackRandomFactor: 1.5, maxRetransmit: 4, separateTimeoutMs: 30_000 };

export interface OutgoingRequest {
  code: number;
  options: CoapOption[];
  payload?: Buffer;
  /** Default CON. */
  type?: 'CON' | 'NON';
  /** Keep the token after the first response and hand every later notification to `onNotify` (RFC 7641). */
  onNotify?: (msg: CoapMessage) => void;
}

export class ExchangeError extends Error {
  override readonly name = 'ExchangeError';
  constructor(
    message: string,
    readonly kind: 'timeout' | 'reset' | 'cancelled',
  ) {
    super(message);
  }
}

interface Pending {
  key: string;
  token: string;
  mid: number;
  bytes: Buffer;
  transport: DatagramTransport;
  peer: PeerAddress;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  acked: boolean;
  resolve: (m: CoapMessage) => void;
  reject: (e: Error) => void;
  onNotify?: ((msg: CoapMessage) => void) | undefined;
}

const peerKey = (p: PeerAddress): string => `${p.bearer}|${p.address}|${p.port}`;

export class ClientExchange {
  private readonly byMid = new Map<string, Pending>();
  private readonly byToken = new Map<string, Pending>();
  private readonly observations = new Map<string, { peer: string; lastMid?: number; onNotify: (msg: CoapMessage) => void }>();
  readonly stats = { sent: 0, retransmissions: 0, timeouts: 0, resets: 0, notifications: 0, unmatched: 0 };

  constructor(
    private readonly nextMid: () => number,
    private readonly log: Logger,
    private tx: TxParams = DEFAULT_TX,
  ) {}

  setTxParams(tx: TxParams): void {
    this.tx = tx;
  }

  /** Sends a request; resolves with the response (piggybacked or separate). */
  request(t: DatagramTransport, peer: PeerAddress, req: OutgoingRequest): Promise<CoapMessage> {
    const token = randomBytes(4);
    const mid = this.nextMid();
    const type = req.type ?? 'CON';
    const bytes = encodeMessage({ type, code: req.code, messageId: mid, token, options: req.options, payload: req.payload ?? Buffer.alloc(0) });
    const key = peerKey(peer);
    return new Promise<CoapMessage>((resolve, reject) => {
      const p: Pending = { key, token: token.toString('hex'), mid, bytes, transport: t, peer, attempts: 0, timer: undefined, acked: type === 'NON', resolve, reject, onNotify: req.onNotify };
      this.byToken.set(`${key}#${p.token}`, p);
      if (type === 'CON') this.byMid.set(`${key}#${mid}`, p);
      this.transmit(p);
      if (type === 'NON') this.arm(p, this.tx.separateTimeoutMs);
    });
  }

  /** Drops an observation (after a Cancel, or when the registration ends). */
  forgetObservation(peer: PeerAddress, token: Buffer): void {
    this.observations.delete(`${peerKey(peer)}#${token.toString('hex')}`);
  }

  /** Ends every exchange and observation with this peer (de-registration). */
  forgetPeer(peer: PeerAddress): void {
    const key = peerKey(peer);
    for (const [k, p] of this.byToken) if (p.key === key) this.finish(p, k, new ExchangeError('peer went away', 'cancelled'));
    for (const [k, o] of this.observations) if (o.peer === key) this.observations.delete(k);
  }

  stop(): void {
    for (const [k, p] of this.byToken) this.finish(p, k, new ExchangeError('gateway stopping', 'cancelled'));
    this.observations.clear();
  }

  /**
   * A response, Empty ACK or RST from the wire. Returns true when it belonged to an exchange or an
   * observation (the server then does nothing more with it).
   */
  handle(msg: CoapMessage, peer: PeerAddress, t: DatagramTransport): boolean {
    const key = peerKey(peer);
    if (msg.code === EMPTY) {
      const p = this.byMid.get(`${key}#${msg.messageId}`);
      if (!p) return false;
      if (msg.type === 'RST') {
        this.stats.resets++;
        this.finish(p, `${key}#${p.token}`, new ExchangeError(`peer reset the request (RST to message ${msg.messageId})`, 'reset'));
      } else if (msg.type === 'ACK' && !p.acked) {
        // RFC 7252 §5.2.2: an Empty ACK; the response comes later as its own CON/NON with our token.
        p.acked = true;
        this.byMid.delete(`${key}#${msg.messageId}`);
        this.arm(p, this.tx.separateTimeoutMs);
      }
      return true;
    }
    const tok = msg.token.toString('hex');
    const p = this.byToken.get(`${key}#${tok}`);
    if (p && (msg.type !== 'ACK' || msg.messageId === p.mid)) {
      if (msg.type === 'CON') this.ackEmpty(t, peer, msg.messageId);
      if (p.onNotify && msg.code >> 5 === 2 && option(msg, Opt.Observe) !== undefined) this.observations.set(`${key}#${tok}`, { peer: key, onNotify: p.onNotify });
      this.finish(p, `${key}#${tok}`, undefined, msg);
      return true;
    }
    const o = this.observations.get(`${key}#${tok}`);
    if (o && msg.type !== 'ACK') {
      // RFC 7641 §4.2: a CON notification is acknowledged; a non-2.xx one ends the observation.
      if (msg.type === 'CON') this.ackEmpty(t, peer, msg.messageId);
      // RFC 7252 §4.5: a retransmitted notification (same MID) is acknowledged again, not handled twice.
      if (o.lastMid === msg.messageId) return true;
      o.lastMid = msg.messageId;
      this.stats.notifications++;
      if (msg.code >> 5 !== 2 || option(msg, Opt.Observe) === undefined) this.observations.delete(`${key}#${tok}`);
      try {
        o.onNotify(msg);
      } catch (err) {
        this.log.error({ err, peer: `${peer.address}:${peer.port}` }, 'notification handler failed');
      }
      return true;
    }
    this.stats.unmatched++;
    // RFC 7641 §3.6: a notification nobody wants is answered with RST, which ends it at the client.
    if (msg.type === 'CON' || (msg.type === 'NON' && option(msg, Opt.Observe) !== undefined)) this.rst(t, peer, msg.messageId);
    return true;
  }

  private transmit(p: Pending): void {
    this.stats.sent++;
    p.transport.send(p.bytes, p.peer).catch((err: unknown) => this.log.warn({ peer: `${p.peer.address}:${p.peer.port}`, err: (err as Error).message }, 'request not sent'));
    if (p.acked) return;
    // RFC 7252 §4.2: initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR], doubled per retry.
    const base = this.tx.ackTimeoutMs * (1 + Math.random() * (this.tx.ackRandomFactor - 1));
    this.arm(p, base * 2 ** p.attempts);
  }

  private arm(p: Pending, ms: number): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (!p.acked && p.attempts < this.tx.maxRetransmit) {
        p.attempts++;
        this.stats.retransmissions++;
        this.transmit(p);
        return;
      }
      this.stats.timeouts++;
      this.finish(p, `${p.key}#${p.token}`, new ExchangeError(`no response from ${p.peer.address}:${p.peer.port} after ${p.attempts + 1} transmissions`, 'timeout'));
    }, ms);
    p.timer.unref();
  }

  private finish(p: Pending, tokenKey: string, err?: Error, msg?: CoapMessage): void {
    if (p.timer) clearTimeout(p.timer);
    this.byToken.delete(tokenKey);
    this.byMid.delete(`${p.key}#${p.mid}`);
    if (err) p.reject(err);
    else p.resolve(msg!);
  }

  private ackEmpty(t: DatagramTransport, peer: PeerAddress, mid: number): void {
    const b = Buffer.alloc(4);
    b[0] = 0x60; // version 1, ACK, no token
    b.writeUInt16BE(mid, 2);
    t.send(b, peer).catch(() => undefined);
  }

  private rst(t: DatagramTransport, peer: PeerAddress, mid: number): void {
    const b = Buffer.alloc(4);
    b[0] = 0x70;
    b.writeUInt16BE(mid, 2);
    t.send(b, peer).catch(() => undefined);
  }
}
