/** GET /.well-known/core (RFC 6690 §4): the resources this server offers, in CoRE Link Format. */
import { GET, ContentFormat } from '../codes.ts';
import { bearerSzx, block2Reply, etagOf, requestedBlock2, requireMethod } from '../respond.ts';
import type { CoapRequest, CoapResponse, Resource } from '../server.ts';

export class WellKnownCoreResource implements Resource {
  readonly path = ['.well-known', 'core'];
  readonly linkAttrs = 'ct=40';

  constructor(
    private readonly list: () => Resource[],
    /** Read per request so a config reload applies. */
    private readonly maxSzx: () => number,
  ) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, GET, 'GET');
    if (early) return early;
    const body = Buffer.from(
      this.list()
        .filter((r) => r !== this)
        .map((r) => `</${r.path.join('/')}>;${r.linkAttrs}`)
        .join(','),
      'utf8',
    );
    const blk = requestedBlock2(req);
    if (!blk.ok) return blk.res;
    return block2Reply(req, body, { contentFormat: ContentFormat.LinkFormat, etag: etagOf(body), maxSzx: bearerSzx(req, this.maxSzx()), block: blk.block }).res;
  }
}
