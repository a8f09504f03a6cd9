/** The start both delivery resources share: GET only, and the URI token must name a live delivery. */
import { GET, NOT_FOUND } from '../codes.ts';
import type { Delivery } from '../deliveries.ts';
import type { ResourceDeps } from '../deps.ts';
import { requireMethod } from '../respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse } from '../server.ts';

export function deliveryFor(req: CoapRequest, d: ResourceDeps, what: 'manifest' | 'patch'): { ok: true; delivery: Delivery } | { ok: false; res: CoapResponse } {
  const early = requireMethod(req, GET, 'GET');
  if (early) return { ok: false, res: early };
  const token = req.rest.length === 1 ? req.rest[0]! : '';
  const delivery = d.deliveries.byToken(token);
  if (!delivery) {
    d.log.warn({ peer: `${req.peer.address}:${req.peer.port}`, token: token.slice(0, 32) }, `${what} request for an unknown token`);
    return { ok: false, res: errorResponse(NOT_FOUND, `no such ${what}; check in again for a fresh URI`) };
  }
  return { ok: true, delivery };
}
