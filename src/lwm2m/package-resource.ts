/**
 * GET /fw/<token>: the Object 5 package of one client's update, Block2 (RFC 7959) through the same
 * stateless block slicer as /p, with a strong ETag stable across restarts (Anjay resumes by it). The
 * transfer was admitted before the URI was written (firmware-flow.ts), so blocks are served without
 * per-block pacing: Zephyr's pull client aborts on anything but 2.05. Only a per-transfer byte cap
 * (lwm2m.transferCapFactor × package size, restarts included) stops a client that loops.
 */
import { ContentFormat, FORBIDDEN, GET, INTERNAL_SERVER_ERROR, NOT_FOUND } from '../coap/codes.ts';
import { bearerSzx, block2Reply, requestedBlock2, requireMethod } from '../coap/respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../coap/server.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import type { TransferStore } from '../store/transfers.ts';
import type { FirmwareRow, Lwm2mRepo } from '../store/lwm2m.ts';

export interface PackageSource {
  /** The package bytes and their id (sha256 hex) for a release. */
  package(releaseSha256: string): { id: string; bytes: Buffer; etag: Buffer };
}

export interface PackageResourceDeps {
  repo: Lwm2mRepo;
  packages: PackageSource;
  transfers: () => TransferStore | undefined;
  events: EventBus;
  log: Logger;
  maxSzx: () => number;
  capFactor: () => number;
  onCapExceeded: (row: FirmwareRow, served: number) => void;
}

export class PackageResource implements Resource {
  readonly path = ['fw'];
  readonly linkAttrs = 'rt="oma.lwm2m.fw";ct=42';
  /** Bytes served per token since start (the stored count lags by one flush). */
  private readonly served = new Map<string, number>();

  constructor(private readonly d: PackageResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, GET, 'GET');
    if (early) return early;
    const token = req.rest.length === 1 ? req.rest[0]! : '';
    const row = /^[A-Za-z0-9_-]{16}$/.test(token) ? this.d.repo.firmwareByToken(token) : undefined;
    if (!row || row.phase === 'succeeded' || row.phase === 'failed') {
      this.d.log.warn({ peer: `${req.peer.address}:${req.peer.port}`, token: token.slice(0, 32) }, 'firmware package request for an unknown or finished token');
      return errorResponse(NOT_FOUND, 'no such firmware package; the server writes a fresh Package URI when one is due');
    }
    const blk = requestedBlock2(req);
    if (!blk.ok) return blk.res;
    let pkg;
    try {
      pkg = this.d.packages.package(row.releaseSha256);
    } catch (err) {
      this.d.log.error({ deviceId: row.deviceId, release: row.releaseSha256.slice(0, 12), err }, 'firmware package unavailable');
      return errorResponse(INTERNAL_SERVER_ERROR, 'package unavailable on the gateway; retry later');
    }
    const served = this.served.get(token) ?? row.bytesServed;
    if (served > this.d.capFactor() * pkg.bytes.length) {
      this.d.onCapExceeded(row, served);
      return errorResponse(FORBIDDEN, `transfer cap reached: ${served} bytes served for a ${pkg.bytes.length}-byte package`);
    }
    const out = block2Reply(req, pkg.bytes, { contentFormat: ContentFormat.OctetStream, etag: pkg.etag, maxSzx: bearerSzx(req, this.d.maxSzx()), block: blk.block });
    if (out.offset < 0) return out.res;
    if (!this.served.has(token)) this.d.log.info({ deviceId: row.deviceId, offset: out.offset, size: pkg.bytes.length }, 'firmware package download served from offset');
    this.served.set(token, served + out.length);
    this.d.repo.addServed(token, out.length);
    const transfers = this.d.transfers();
    if (transfers) {
      const o = transfers.blockServed(row.deviceId, pkg.id, pkg.bytes.length, req.peer.bearer, out.offset, out.length);
      if (o.completed) this.d.events.emit('transfer.completed', { deviceId: row.deviceId, patchId: pkg.id, size: pkg.bytes.length, bearer: req.peer.bearer });
    }
    return out.res;
  }

  forget(token: string): void {
    this.served.delete(token);
  }
}
