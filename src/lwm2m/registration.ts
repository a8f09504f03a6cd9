/**
 * The Registration interface (OMA-TS-LightweightM2M-Transport §6.2, Core §6.2): POST /rd?ep=&lt=&lwm2m=&b=
 * with the CoRE link payload registers (2.01 + Location-Path rd/<loc>), POST /rd/<loc> updates (2.04),
 * DELETE /rd/<loc> de-registers (2.02). Only allow-listed endpoints may register (NoSec on a private
 * APN): others get 4.03 and are counted. Handlers are synchronous; the service does the follow-up
 * (reads, observations, held requests) after the reply has gone.
 */
import { randomBytes } from 'node:crypto';
import { BAD_REQUEST, CHANGED, code, ContentFormat, CREATED, FORBIDDEN, METHOD_NOT_ALLOWED, NOT_FOUND, Opt, POST, REQUEST_ENTITY_TOO_LARGE, SERVICE_UNAVAILABLE, UNSUPPORTED_CONTENT_FORMAT } from '../coap/codes.ts';
import { decodeUint, option, options } from '../coap/message.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../coap/server.ts';
import type { Logger } from '../log.ts';
import type { Lwm2mRepo, Registration } from '../store/lwm2m.ts';
import type { Lwm2mConfig } from './config.ts';
import { LinkFormatError, parseLinkFormat, type Link } from './link-format.ts';

const DELETE = 4;
const DELETED = code(2, 2);
const VERSIONS = new Set(['1.0', '1.1', '1.2']);
// Transport §6.2.1.1 (1.0: U, UQ, S, SQ, US, UQS) and 1.1/1.2 (any of U, M, H, T, S, N; Q is its own parameter).
const BINDING_RE = /^(?:U|UQ|S|SQ|US|UQS|[UMHTSN]{1,6})$/;
/** Payloads above this are refused: a registration lists objects, not data. */
export const MAX_REGISTER_PAYLOAD = 1024;

export type RegistrationEvent = { kind: 'registered' | 'updated'; reg: Registration; links: Link[] | undefined; req: CoapRequest } | { kind: 'deregistered'; reg: Registration; req: CoapRequest };

export interface RegistrationDeps {
  repo: Lwm2mRepo;
  config: () => Lwm2mConfig;
  log: Logger;
  now: () => number;
  onEvent: (e: RegistrationEvent) => void;
  /** An endpoint outside the allow-list tried to register (metrics). */
  onRefused?: (endpoint: string) => void;
}

export interface RegistrationStats {
  registers: number;
  updates: number;
  deregisters: number;
  refusedUnknown: number;
  refusedBad: number;
}

function queries(req: CoapRequest): Map<string, string | true> | string {
  const m = new Map<string, string | true>();
  for (const raw of options(req.msg, Opt.UriQuery)) {
    const s = raw.toString('utf8');
    const eq = s.indexOf('=');
    const k = eq < 0 ? s : s.slice(0, eq);
    if (!/^[A-Za-z][A-Za-z0-9]{0,7}$/.test(k)) return `query parameter ${JSON.stringify(s.slice(0, 30))} is not name=value`;
    if (m.has(k)) return `query parameter ${k} given twice`;
    m.set(k, eq < 0 ? true : s.slice(eq + 1));
  }
  return m;
}

export class RegistrationResource implements Resource {
  readonly path = ['rd'];
  readonly linkAttrs = 'rt="core.rd"';
  readonly stats: RegistrationStats = { registers: 0, updates: 0, deregisters: 0, refusedUnknown: 0, refusedBad: 0 };

  constructor(private readonly d: RegistrationDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    if (req.rest.length === 0) {
      if (req.msg.code !== POST) return errorResponse(METHOD_NOT_ALLOWED, 'Register is POST /rd');
      return this.register(req);
    }
    if (req.rest.length !== 1) return errorResponse(NOT_FOUND, `no resource /rd/${req.rest.join('/')}`);
    const reg = this.d.repo.byLocation(req.rest[0]!);
    if (!reg) return errorResponse(NOT_FOUND, `no registration /rd/${req.rest[0]!.slice(0, 32)}; register again`);
    if (req.msg.code === DELETE) {
      this.d.repo.remove(reg.location);
      this.stats.deregisters++;
      this.d.log.info({ endpoint: reg.endpoint, location: reg.location }, 'LwM2M client de-registered');
      this.d.onEvent({ kind: 'deregistered', reg, req });
      return { code: DELETED };
    }
    if (req.msg.code !== POST) return errorResponse(METHOD_NOT_ALLOWED, 'Update is POST /rd/<location>, De-register is DELETE');
    return this.update(req, reg);
  }

  private bad(req: CoapRequest, what: string, endpoint?: string): CoapResponse {
    this.stats.refusedBad++;
    this.d.log.warn({ peer: `${req.peer.address}:${req.peer.port}`, endpoint, reason: what }, 'LwM2M registration refused');
    return errorResponse(BAD_REQUEST, what);
  }

  /** The link payload, if any, checked for size, format and syntax. */
  private links(req: CoapRequest, endpoint: string): { ok: true; links: Link[] | undefined; text: string | undefined } | { ok: false; res: CoapResponse } {
    const p = req.msg.payload;
    if (p.length === 0) return { ok: true, links: undefined, text: undefined };
    if (p.length > MAX_REGISTER_PAYLOAD) return { ok: false, res: errorResponse(REQUEST_ENTITY_TOO_LARGE, `registration payload of ${p.length} bytes exceeds ${MAX_REGISTER_PAYLOAD}`) };
    if (option(req.msg, Opt.Block1)) return { ok: false, res: errorResponse(REQUEST_ENTITY_TOO_LARGE, `block-wise Register is not accepted; the link list must fit one datagram`) };
    const cf = option(req.msg, Opt.ContentFormat);
    if (cf && decodeUint(cf) !== ContentFormat.LinkFormat) return { ok: false, res: errorResponse(UNSUPPORTED_CONTENT_FORMAT, `Content-Format ${decodeUint(cf)} is not application/link-format (40)`) };
    const text = p.toString('utf8');
    try {
      const links = parseLinkFormat(text);
      for (const l of links) if (!/^\/[A-Za-z0-9/._-]*$/.test(l.uri)) throw new LinkFormatError(`link <${l.uri.slice(0, 40)}> is not an object path`);
      return { ok: true, links, text };
    } catch (err) {
      return { ok: false, res: this.bad(req, (err as Error).message, endpoint) };
    }
  }

  private lifetime(v: string | true | undefined): number | string {
    const cfg = this.d.config().lifetime;
    if (v === undefined) return cfg.default;
    if (v === true || !/^\d{1,10}$/.test(v)) return `lt must be a number of seconds, not ${JSON.stringify(v === true ? '' : v.slice(0, 20))}`;
    const n = Number(v);
    if (n < cfg.min || n > cfg.max) return `lt=${n} is outside the accepted ${cfg.min}..${cfg.max} seconds`;
    return n;
  }

  private register(req: CoapRequest): CoapResponse {
    const q = queries(req);
    if (typeof q === 'string') return this.bad(req, q);
    const ep = q.get('ep');
    if (typeof ep !== 'string' || ep.length === 0) return this.bad(req, 'Register needs ep=<endpoint name>');
    if (!Object.hasOwn(this.d.config().endpoints, ep)) {
      this.stats.refusedUnknown++;
      this.d.onRefused?.(ep.slice(0, 64));
      this.d.log.warn({ peer: `${req.peer.address}:${req.peer.port}`, endpoint: ep.slice(0, 64) }, 'LwM2M registration refused: endpoint not in lwm2m.endpoints');
      return errorResponse(FORBIDDEN, `endpoint ${ep.slice(0, 64)} is not allowed to register here`);
    }
    const lt = this.lifetime(q.get('lt'));
    if (typeof lt === 'string') return this.bad(req, lt, ep);
    const version = q.get('lwm2m') ?? '1.0';
    if (version === true || !VERSIONS.has(version)) return this.bad(req, `lwm2m=${String(version).slice(0, 10)} is not a version this server speaks (1.0, 1.1, 1.2)`, ep);
    const b = q.get('b') ?? 'U';
    if (b === true || !BINDING_RE.test(b)) return this.bad(req, `b=${String(b).slice(0, 10)} is not an LwM2M binding`, ep);
    if (!b.includes('U')) return this.bad(req, `binding ${b} has no UDP (U); this server speaks CoAP over UDP only`, ep);
    const l = this.links(req, ep);
    if (!l.ok) return l.res;
    if (!l.links) return this.bad(req, 'Register needs the CoRE link list of the objects (Transport §6.2.1)', ep);
    const existing = this.d.repo.byEndpoint(ep);
    if (!existing && this.d.repo.count() >= this.d.config().maxRegistrations) return errorResponse(SERVICE_UNAVAILABLE, 'registration table is full; retry later');
    const now = this.d.now();
    const reg: Registration = {
      location: randomBytes(6).toString('base64url'),
      endpoint: ep,
      lifetime: lt,
      version,
      binding: b,
      queueMode: b.includes('Q') || q.get('Q') === true,
      objects: l.text!,
      address: req.peer.address,
      port: req.peer.port,
      bearer: req.peer.bearer,
      registeredAt: now,
      updatedAt: now,
      expiresAt: now + lt * 1000,
    };
    this.d.repo.register(reg);
    this.stats.registers++;
    this.d.log.info({ endpoint: ep, location: reg.location, lifetime: lt, version, binding: b, queueMode: reg.queueMode, replaced: existing !== undefined || undefined }, 'LwM2M client registered');
    this.d.onEvent({ kind: 'registered', reg, links: l.links, req });
    return { code: CREATED, options: [{ number: 8, value: Buffer.from('rd') }, { number: 8, value: Buffer.from(reg.location) }] };
  }

  private update(req: CoapRequest, reg: Registration): CoapResponse {
    const q = queries(req);
    if (typeof q === 'string') return this.bad(req, q, reg.endpoint);
    for (const k of q.keys()) if (!['lt', 'b', 'sms', 'Q'].includes(k)) return this.bad(req, `Update does not take ${k}= (only lt, b, sms, Q)`, reg.endpoint);
    let lifetime: number | undefined;
    if (q.has('lt')) {
      const lt = this.lifetime(q.get('lt'));
      if (typeof lt === 'string') return this.bad(req, lt, reg.endpoint);
      lifetime = lt;
    }
    const b = q.get('b');
    if (b !== undefined && (b === true || !BINDING_RE.test(b) || !b.includes('U'))) return this.bad(req, `b=${String(b).slice(0, 10)} is not a UDP LwM2M binding`, reg.endpoint);
    const l = this.links(req, reg.endpoint);
    if (!l.ok) return l.res;
    const now = this.d.now();
    const lt = lifetime ?? reg.lifetime;
    const u = {
      ...(lifetime !== undefined ? { lifetime } : {}),
      ...(b !== undefined ? { binding: b, queueMode: b.includes('Q') || q.get('Q') === true } : {}),
      ...(l.text !== undefined ? { objects: l.text } : {}),
      // Transport §6.2.2: the client's address may have changed (NAT rebinding); requests go to the new one.
      address: req.peer.address,
      port: req.peer.port,
      bearer: req.peer.bearer,
      updatedAt: now,
      expiresAt: now + lt * 1000,
    };
    this.d.repo.update(reg.location, u);
    this.stats.updates++;
    const next = this.d.repo.byLocation(reg.location)!;
    this.d.log.debug({ endpoint: reg.endpoint, location: reg.location }, 'LwM2M registration updated');
    this.d.onEvent({ kind: 'updated', reg: next, links: l.links, req });
    return { code: CHANGED };
  }
}
