/** POST /r — report (PROTOCOL.md): download progress, applied, booted, failed, rolled back. */
import { encodeCbor, toBytes, toUint, uint, type CborMap } from '../../manifest/cbor.ts';
import { BAD_REQUEST, CHANGED, POST } from '../codes.ts';
import type { ResourceDeps } from '../deps.ts';
import { checkPostBody, requireMethod, requireNoRest } from '../respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../server.ts';
import { isTransientFailure } from './failure.ts';

const STATUSES = new Set(['downloading', 'applied', 'booted', 'failed', 'rolled_back']);
/** Statuses after which the device has nothing to fetch until it checks in again. */
const FINAL = new Set(['booted', 'failed', 'rolled_back']);

export interface Report {
  status: string;
  reason?: string;
  running?: string;
  patchId?: string;
  offset?: number;
}

export function parseReport(m: CborMap): Report | string {
  const status = m.get(1);
  if (typeof status !== 'string' || !STATUSES.has(status)) return `key 1 (status) must be one of ${[...STATUSES].join(', ')}`;
  const r: Report = { status };
  const reason = m.get(2);
  if (reason !== undefined) {
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > 120) return 'key 2 (reason) must be a text string of at most 120 bytes';
    r.reason = reason;
  }
  for (const [k, name, field] of [[3, 'running image SHA-256', 'running'], [4, 'patch id', 'patchId']] as const) {
    const v = m.get(k);
    if (v === undefined) continue;
    const b = toBytes(v);
    if (!b || b.length !== 32) return `key ${k} (${name}) must be a 32-byte byte string`;
    r[field] = b.toString('hex');
  }
  const off = m.get(5);
  if (off !== undefined) {
    const n = toUint(off);
    if (n === undefined) return 'key 5 (offset) must be an unsigned integer';
    r.offset = n;
  }
  return r;
}

export class ReportResource implements Resource {
  readonly path = ['r'];
  readonly linkAttrs = 'rt="furrow.report";ct=60';

  constructor(private readonly d: ResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, POST, 'POST') ?? requireNoRest(req) ?? checkPostBody(req, this.d.limits.maxRequestPayload);
    if (early) return early;
    const peer = `${req.peer.address}:${req.peer.port}`;
    const auth = this.d.auth.check('r', req.msg.payload);
    if (!auth.ok) {
      this.d.log.warn({ peer, deviceId: auth.deviceId, reason: auth.message }, 'report refused');
      return errorResponse(auth.code, auth.message);
    }
    const r = parseReport(auth.body);
    if (typeof r === 'string') {
      this.d.log.warn({ peer, deviceId: auth.device.id, reason: r }, 'report refused: bad body');
      return errorResponse(BAD_REQUEST, r);
    }
    const id = auth.device.id;
    const now = this.d.clock.now();
    const delivery = r.patchId ? this.d.deliveries.find(id, r.patchId) : undefined;
    const log = { deviceId: id, status: r.status, reason: r.reason, patchId: r.patchId?.slice(0, 12), offset: r.offset };
    if (r.status === 'failed' && isTransientFailure(r.reason)) {
      // older firmware gave up at the first transient failure: not the release's fault (failure.ts)
      if (r.patchId) this.d.transfers.reportOffset(id, r.patchId, r.offset ?? 0);
      this.d.log.warn(log, 'device report: transient failure, not counted as a failed update');
      return this.changed(r.status, req.peer.bearer);
    }
    if (r.patchId && FINAL.has(r.status) && !this.d.transfers.recordResult(id, r.patchId, r.status)) {
      // sent again after a power cut between sending it and storing that it was sent
      this.d.log.info(log, 'device report repeated; already recorded');
      return this.changed(r.status, req.peer.bearer);
    }
    if (r.patchId) {
      const state = r.status === 'failed' || r.status === 'rolled_back' ? 'failed' : r.status === 'downloading' ? undefined : 'completed';
      this.d.transfers.reportOffset(id, r.patchId, r.offset ?? 0, state);
      if (state === 'failed') this.d.events.emit('transfer.failed', { deviceId: id, patchId: r.patchId, reason: r.reason ?? r.status });
    }
    if (r.status === 'booted') this.d.devices.setLastResult(id, 'ok', now);
    else if (r.status === 'failed' || r.status === 'rolled_back') this.d.devices.setLastResult(id, r.status, now);
    this.d.log.info(log, 'device report');
    this.d.events.emit('device.report', { deviceId: id, status: r.status, reason: r.reason, releaseSha256: delivery?.releaseSha256 ?? r.running });
    return this.changed(r.status, req.peer.bearer);
  }

  /**
   * 2.04; on a duty-cycled bearer the answer to a final report (booted, failed, rolled_back) names the
   * next check-in (key 2, as with check-in decision 0): a device that just updated would otherwise check
   * in at its usual interval only to hear "nothing to do", a whole downlink. CBOR without a
   * Content-Format option (PROTOCOL.md): 2 bytes less on the air, and the payload is only ever CBOR.
   */
  private changed(status: string, bearer: string): CoapResponse {
    const idle = FINAL.has(status) ? this.d.radio?.idleCheckinSeconds(bearer) : undefined;
    if (idle === undefined) return { code: CHANGED };
    return { code: CHANGED, payload: encodeCbor(new Map<number, unknown>([[2, uint(idle)]])) };
  }
}
