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
  monotonic: () => number;
}

const FLUSH_BLOCKS = 64;
const ROW_TTL_MS = 1000;

export class PackageResource implements Resource {
  readonly path = ['fw'];
  readonly linkAttrs = 'rt="oma.lwm2m.fw";ct=42';
  /** Bytes served per token since start; the stored count is written every FLUSH_BLOCKS blocks and at the end. */
  private readonly served = new Map<string, number>();
  private readonly unflushed = new Map<string, { bytes: number; blocks: number }>();
  /** Token rows, re-read at most once a second: a finished flow answers 4.04 within that second. */
  private readonly rows = new Map<string, { row: FirmwareRow; at: number }>();

  constructor(private readonly d: PackageResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, GET, 'GET');
    if (early) return early;
    const token = req.rest.length === 1 ? req.rest[0]! : '';
    const row = /^[A-Za-z0-9_-]{16}$/.test(token) ? this.row(token) : undefined;
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
    const u = this.unflushed.get(token) ?? { bytes: 0, blocks: 0 };
    u.bytes += out.length;
    u.blocks++;
    // One write per block would cost an fsync each (a 1.3 MB image is 1,256 blocks); a restart loses at most a batch of the count.
    if (u.blocks >= FLUSH_BLOCKS || !out.more) {
      this.d.repo.addServed(token, u.bytes);
      this.unflushed.delete(token);
    } else this.unflushed.set(token, u);
    const transfers = this.d.transfers();
    if (transfers) {
      const o = transfers.blockServed(row.deviceId, pkg.id, pkg.bytes.length, req.peer.bearer, out.offset, out.length);
      if (o.completed) this.d.events.emit('transfer.completed', { deviceId: row.deviceId, patchId: pkg.id, size: pkg.bytes.length, bearer: req.peer.bearer });
    }
    return out.res;
  }

  private row(token: string): FirmwareRow | undefined {
    const now = this.d.monotonic();
    const hit = this.rows.get(token);
    if (hit && now - hit.at < ROW_TTL_MS) return hit.row;
    const row = this.d.repo.firmwareByToken(token);
    if (this.rows.size > 10_000) this.rows.clear();
    if (row) this.rows.set(token, { row, at: now });
    else this.rows.delete(token);
    return row;
  }
}
