/**
 * Device Management and Information Reporting (Core §6.3, §6.4) towards registered clients: Read,
 * Write, Execute, Observe, Cancel Observation, sent through the CoAP message layer's client exchange.
 * Queue mode (Transport §6.3, b=UQ / Q): a client is reachable only for a while after it last spoke
 * (MAX_TRANSMIT_WAIT, 93 s); a request made while it sleeps is held and sent when its next Update or
 * Register arrives.
 */
import type { DatagramTransport, PeerAddress } from '../bearer/types.ts';
import { codeString, Opt } from '../coap/codes.ts';
import type { ClientExchange } from '../coap/exchange.ts';
import { encodeUint, option, type CoapMessage, type CoapOption } from '../coap/message.ts';
import type { Logger } from '../log.ts';
import type { Registration } from '../store/lwm2m.ts';
import { decodeContent, encodeResource, Lwm2mFormat, type Lwm2mValue, type ResourceValue } from './content.ts';
import { parsePath } from './objects.ts';

const GET = 1;
const POST = 2;
const PUT = 3;
/** RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT: how long a queue-mode client stays awake after it sent something. */
export const AWAKE_MS = 93_000;

export class Lwm2mRequestError extends Error {
  override readonly name = 'Lwm2mRequestError';
  constructor(
    message: string,
    /** The CoAP response code, when the client answered. */
    readonly code?: number,
  ) {
    super(message);
  }
}

interface Session {
  reg: Registration;
  transport: DatagramTransport | undefined;
  lastHeardMono: number | undefined;
  held: Array<() => void>;
  observations: Map<string, Buffer>;
}

export interface DeviceManagerDeps {
  exchange: ClientExchange;
  /** The bearer a registration came in on, by name (after a restart it is looked up again). */
  transport: (bearer: string) => DatagramTransport | undefined;
  monotonic: () => number;
  log: Logger;
  /** How long a queue-mode client stays reachable after it spoke; default AWAKE_MS. */
  awakeMs?: number;
}

const pathOptions = (path: string): CoapOption[] => parsePath(path).map((id) => ({ number: Opt.UriPath, value: Buffer.from(String(id)) }));

export class DeviceManager {
  private readonly sessions = new Map<string, Session>();
  readonly stats = { requests: 0, held: 0, failures: 0 };

  constructor(private readonly d: DeviceManagerDeps) {}

  /** A client spoke (Register/Update): remember where it is and send what was held for it. */
  heard(reg: Registration): void {
    const s = this.session(reg);
    s.reg = reg;
    s.transport = this.d.transport(reg.bearer);
    s.lastHeardMono = this.d.monotonic();
    for (const send of s.held.splice(0)) send();
  }

  /** Known from the store (after a restart): reachable unless it sleeps in queue mode. */
  restore(reg: Registration): void {
    const s = this.session(reg);
    s.reg = reg;
    s.transport = this.d.transport(reg.bearer);
  }

  forget(endpoint: string): void {
    const s = this.sessions.get(endpoint);
    if (!s) return;
    this.d.exchange.forgetPeer(this.peer(s));
    for (const send of s.held.splice(0)) send();
    this.sessions.delete(endpoint);
  }

  endpoints(): string[] {
    return [...this.sessions.keys()];
  }

  isObserving(endpoint: string, path: string): boolean {
    return this.sessions.get(endpoint)?.observations.has(path) ?? false;
  }

  /** Forget observation tokens: a client that registers anew has dropped them (Core §6.4.1). */
  resetObservations(endpoint: string): void {
    const s = this.sessions.get(endpoint);
    if (!s) return;
    for (const tok of s.observations.values()) this.d.exchange.forgetObservation(this.peer(s), tok);
    s.observations.clear();
  }

  async read(endpoint: string, path: string, format: number = Lwm2mFormat.Tlv): Promise<ResourceValue[]> {
    const res = await this.send(endpoint, { code: GET, options: [...pathOptions(path), { number: Opt.Accept, value: encodeUint(format) }] }, `Read ${path}`);
    return decodeContent(contentFormat(res, format), res.payload, path);
  }

  async write(endpoint: string, path: string, value: Lwm2mValue, format: number = Lwm2mFormat.Tlv): Promise<void> {
    const payload = encodeResource(format, path, value);
    // Core §6.3.3: PUT replaces the resource (a single-resource Write).
    await this.send(endpoint, { code: PUT, options: [...pathOptions(path), { number: Opt.ContentFormat, value: encodeUint(format) }], payload }, `Write ${path}`);
  }

  async execute(endpoint: string, path: string, args?: string): Promise<void> {
    if (parsePath(path).length !== 3) throw new Lwm2mRequestError(`Execute needs a resource path /o/i/r, not ${path}`);
    await this.send(endpoint, { code: POST, options: pathOptions(path), ...(args ? { payload: Buffer.from(args, 'utf8') } : {}) }, `Execute ${path}`);
  }

  /** Observe (RFC 7641, Core §6.4.1): resolves with the first value; `onValue` hears every later notification. */
  async observe(endpoint: string, path: string, onValue: (v: ResourceValue[]) => void, format: number = Lwm2mFormat.Tlv): Promise<ResourceValue[]> {
    let token: Buffer | undefined;
    const res = await this.send(
      endpoint,
      {
        code: GET,
        options: [{ number: Opt.Observe, value: encodeUint(0) }, ...pathOptions(path), { number: Opt.Accept, value: encodeUint(format) }],
        onNotify: (msg) => {
          if (msg.code >> 5 !== 2) {
            this.d.log.info({ endpoint, path, code: codeString(msg.code) }, 'observation ended by the client');
            this.sessions.get(endpoint)?.observations.delete(path);
            return;
          }
          let values: ResourceValue[];
          try {
            values = decodeContent(contentFormat(msg, format), msg.payload, path);
          } catch (err) {
            this.d.log.warn({ endpoint, path, err: (err as Error).message }, 'unreadable notification ignored');
            return;
          }
          onValue(values);
        },
      },
      `Observe ${path}`,
      (m) => (token = m.token),
    );
    const s = this.sessions.get(endpoint);
    if (option(res, Opt.Observe) !== undefined && s && token) s.observations.set(path, token);
    return decodeContent(contentFormat(res, format), res.payload, path);
  }

  /** Cancel Observation (RFC 7641 §3.6): a GET with Observe=1 and the same token ends it at the client. */
  async cancel(endpoint: string, path: string): Promise<void> {
    const s = this.sessions.get(endpoint);
    const tok = s?.observations.get(path);
    if (!s || !tok) throw new Lwm2mRequestError(`no observation of ${path} on ${endpoint}`);
    s.observations.delete(path);
    this.d.exchange.forgetObservation(this.peer(s), tok);
    await this.send(endpoint, { code: GET, options: [{ number: Opt.Observe, value: encodeUint(1) }, ...pathOptions(path)] }, `Cancel ${path}`);
  }

  private session(reg: Registration): Session {
    let s = this.sessions.get(reg.endpoint);
    if (!s) {
      s = { reg, transport: undefined, lastHeardMono: undefined, held: [], observations: new Map() };
      this.sessions.set(reg.endpoint, s);
    }
    return s;
  }

  private peer(s: Session): PeerAddress {
    return { address: s.reg.address, port: s.reg.port, bearer: s.reg.bearer };
  }

  private async send(endpoint: string, req: { code: number; options: CoapOption[]; payload?: Buffer; onNotify?: (m: CoapMessage) => void }, what: string, sentToken?: (m: CoapMessage) => void): Promise<CoapMessage> {
    const s = this.sessions.get(endpoint);
    if (!s) throw new Lwm2mRequestError(`${endpoint} is not registered`);
    const asleep = s.reg.queueMode && (s.lastHeardMono === undefined || this.d.monotonic() - s.lastHeardMono > (this.d.awakeMs ?? AWAKE_MS));
    if (asleep) {
      this.stats.held++;
      this.d.log.debug({ endpoint, what }, 'client sleeps (queue mode): request held until its next Update');
      await new Promise<void>((r) => s.held.push(r));
      if (!this.sessions.has(endpoint)) throw new Lwm2mRequestError(`${endpoint} de-registered before ${what} could be sent`);
    }
    const t = s.transport;
    if (!t) throw new Lwm2mRequestError(`bearer ${s.reg.bearer} of ${endpoint} is not up`);
    this.stats.requests++;
    let res: CoapMessage;
    try {
      res = await this.d.exchange.request(t, this.peer(s), req);
    } catch (err) {
      this.stats.failures++;
      throw new Lwm2mRequestError(`${what} on ${endpoint}: ${(err as Error).message}`);
    }
    sentToken?.(res);
    if (res.code >> 5 !== 2) {
      this.stats.failures++;
      throw new Lwm2mRequestError(`${what} on ${endpoint}: client answered ${codeString(res.code)}${res.payload.length ? ` (${res.payload.toString('utf8').slice(0, 80)})` : ''}`, res.code);
    }
    return res;
  }
}

function contentFormat(m: CoapMessage, asked: number): number {
  const cf = option(m, Opt.ContentFormat);
  // Core §7.4.1: without Content-Format a single value is plain text.
  return cf === undefined ? (m.payload.length === 0 ? asked : Lwm2mFormat.Text) : cf.reduce((a, b) => a * 256 + b, 0);
}
