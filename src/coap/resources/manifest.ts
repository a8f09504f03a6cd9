/** GET /m/<token> — the signed delivery manifest (MANIFEST.md), Block2 when larger than a block. */
import { ContentFormat } from '../codes.ts';
import type { ResourceDeps } from '../deps.ts';
import { deliveryFor } from './delivery-lookup.ts';
import { withoutLaterContentFormat } from './patch.ts';
import { bearerSzx, block2Reply, etagOf, requestedBlock2 } from '../respond.ts';
import type { CoapRequest, CoapResponse, Resource } from '../server.ts';

export class ManifestResource implements Resource {
  readonly path = ['m'];
  readonly linkAttrs = 'rt="furrow.manifest";ct=18';

  constructor(private readonly d: ResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const found = deliveryFor(req, this.d, 'manifest');
    if (!found.ok) return found.res;
    const delivery = found.delivery;
    const blk = requestedBlock2(req);
    if (!blk.ok) return blk.res;
    const out = block2Reply(req, delivery.manifest, {
      contentFormat: ContentFormat.CoseSign1,
      etag: etagOf(delivery.manifest),
      maxSzx: bearerSzx(req, this.d.limits.maxSzx),
      block: blk.block,
    });
    if (out.offset >= 0 && this.d.radio?.dutyCycled(req.peer.bearer) === true) withoutLaterContentFormat(out.res, out.offset);
    return out.res;
  }
}
