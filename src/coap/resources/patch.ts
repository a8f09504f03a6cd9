/**
 * GET /p/<token> — the patch, one Block2 block per request (RFC 7959), stateless per block: the
 * device may start at any block number, which is how it resumes after a power cut.
 */
import { Opt, SERVICE_UNAVAILABLE, ContentFormat, INTERNAL_SERVER_ERROR } from '../codes.ts';
import type { ResourceDeps } from '../deps.ts';
import { deliveryFor } from './delivery-lookup.ts';
import { encodeUint } from '../message.ts';
import { bearerSzx, block2Reply, requestedBlock2 } from '../respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../server.ts';

/**
 * Longest refusal left unanswered on a duty-cycled bearer: with RFC 7252's default parameters a device
 * retransmits 2, 6, 14 and 30 s after its first try (ACK_TIMEOUT 2 s, doubled each time, MAX_RETRANSMIT 4),
 * so a wait up to 30 s ends before it gives up.
 */
export const SILENT_REFUSAL_MAX_SECONDS = 30;

/**
 * PROTOCOL.md (duty-cycled bearers): Content-Format only on the block at offset 0. The 2 bytes push a
 * 64-byte block at SF9 into the next symbol group (4 % more airtime per block); the format of a
 * representation does not change between its blocks, and the device learnt it from block 0.
 */
export function withoutLaterContentFormat(res: CoapResponse, offset: number): void {
  if (offset > 0 && res.options) res.options = res.options.filter((o) => o.number !== Opt.ContentFormat);
}

export class PatchResource implements Resource {
  readonly path = ['p'];
  readonly linkAttrs = 'rt="furrow.patch";ct=42';
  private readonly lastProgress = new Map<string, number>();
  /** Block requests refused without a reply (duty-cycled bearer, short wait). */
  silentRefusals = 0;

  constructor(private readonly d: ResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const found = deliveryFor(req, this.d, 'patch');
    if (!found.ok) return found.res;
    const delivery = found.delivery;
    const blk = requestedBlock2(req);
    if (!blk.ok) return blk.res;
    let bytes: Buffer;
    try {
      bytes = this.d.patchBytes.get(delivery.patchId);
    } catch (err) {
      this.d.log.error({ deviceId: delivery.deviceId, patchId: delivery.patchId, err }, 'patch bytes unavailable');
      return errorResponse(INTERNAL_SERVER_ERROR, 'patch unavailable on the gateway; check in again later');
    }
    const out = block2Reply(req, bytes, {
      contentFormat: ContentFormat.OctetStream,
      // PROTOCOL.md: strong ETag = first 8 bytes of the patch SHA-256 (its id), stable across restarts.
      etag: Buffer.from(delivery.patchId.slice(0, 16), 'hex'),
      maxSzx: bearerSzx(req, this.d.limits.maxSzx),
      block: blk.block,
    });
    if (out.offset < 0) return out.res;
    const bearer = req.peer.bearer;
    if (this.d.radio?.dutyCycled(bearer) === true) withoutLaterContentFormat(out.res, out.offset);
    const admit = this.d.gate.admit(bearer, delivery.deviceId, out.length, { patchId: delivery.patchId, releaseSha256: delivery.releaseSha256 });
    if (!admit.ok) {
      // On a duty cycle a 5.03 is itself airtime taken from the blocks. A short wait is covered by the
      // device's CoAP retransmission (or the block cadence it was given), so the request goes unanswered;
      // a long one is worth one 5.03 that puts the device to sleep instead of retransmitting in vain.
      const silent = admit.retryAfterSeconds <= SILENT_REFUSAL_MAX_SECONDS && this.d.radio?.dutyCycled(bearer) === true;
      this.d.events.emit('transfer.refused', { deviceId: delivery.deviceId, patchId: delivery.patchId, bearer, retryAfterSeconds: admit.retryAfterSeconds, reason: admit.reason, answered: !silent });
      if (silent) {
        this.silentRefusals++;
        return undefined;
      }
      // RFC 7252 §5.10.5: Max-Age on 5.03 tells the client when to retry.
      return errorResponse(SERVICE_UNAVAILABLE, admit.reason, [{ number: Opt.MaxAge, value: encodeUint(Math.max(1, Math.ceil(admit.retryAfterSeconds))) }]);
    }
    const o = this.d.transfers.blockServed(delivery.deviceId, delivery.patchId, bytes.length, bearer, out.offset, out.length);
    this.progress(delivery.deviceId, delivery.patchId, o.row.offset, bytes.length, bearer, o.completed);
    return out.res;
  }

  private progress(deviceId: string, patchId: string, offset: number, size: number, bearer: string, completed: boolean): void {
    const key = `${deviceId}\u0000${patchId}`;
    if (completed) {
      this.lastProgress.delete(key);
      this.d.events.emit('transfer.progress', { deviceId, patchId, offset: size, size, bearer });
      this.d.events.emit('transfer.completed', { deviceId, patchId, size, bearer });
      return;
    }
    const now = this.d.clock.monotonic();
    const last = this.lastProgress.get(key);
    if (last !== undefined && now - last < this.d.limits.progressIntervalMs) return;
    this.lastProgress.set(key, now);
    this.d.events.emit('transfer.progress', { deviceId, patchId, offset, size, bearer });
  }

  /** Forget throttle state of transfers idle for a while (called by the service's sweep). */
  sweep(idleMs: number): void {
    const now = this.d.clock.monotonic();
    for (const [k, t] of this.lastProgress) if (now - t > idleMs) this.lastProgress.delete(k);
  }
}
