/** GET /m/<token> — the signed delivery manifest (MANIFEST.md), Block2 when larger than a block. */
import { GET, NOT_FOUND, ContentFormat } from '../codes.ts';
import type { ResourceDeps } from '../deps.ts';
import { bearerSzx, block2Reply, etagOf, requestedBlock2, requireMethod } from '../respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../server.ts';

export class ManifestResource implements Resource {
  readonly path = ['m'];
  readonly linkAttrs = 'rt="furrow.manifest";ct=18';

  constructor(private readonly d: ResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, GET, 'GET');
    if (early) return early;
    const token = req.rest.length === 1 ? req.rest[0]! : '';
    const delivery = this.d.deliveries.byToken(token);
    if (!delivery) {
      this.d.log.warn({ peer: `${req.peer.address}:${req.peer.port}`, token: token.slice(0, 32) }, 'manifest request for an unknown token');
      return errorResponse(NOT_FOUND, 'no such manifest; check in again for a fresh URI');
    }
    const blk = requestedBlock2(req);
    if (!blk.ok) return blk.res;
    return block2Reply(req, delivery.manifest, {
      contentFormat: ContentFormat.CoseSign1,
      etag: etagOf(delivery.manifest),
      maxSzx: bearerSzx(req, this.d.limits.maxSzx),
      block: blk.block,
    }).res;
  }
}
