/**
 * Sends a release image (or a byte range of it) from the blob store, RFC 9110 §14 ranges, strong ETag,
 * and records what went out: bytes served and the resume offset per device (TransferStore, batched
 * like CoAP blocks), transfer.progress / transfer.completed events. A client that goes away
 * mid-body is logged with how far it got; the row keeps the offset it reached.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../log.ts';
import type { TransmitGate } from '../policy.ts';
import type { BlobStore } from '../release/blob-store.ts';
import type { ReleaseRow } from '../store/releases.ts';
import type { TransferStore } from '../store/transfers.ts';
import { HTTP_BEARER } from './desk.ts';
import { answerRange } from './range.ts';
import { peerOf, refuse, retryAfter } from './respond.ts';

export interface SendDeps {
  log: Logger;
  clock: Clock;
  events: EventBus;
  blobs: BlobStore;
  transfers: TransferStore;
  gate: TransmitGate;
  progressIntervalMs: number;
}

/** Strong validator (§8.8.3): the SHA-256 of the bytes sent, which is their blob's content address. */
export const etagOf = (sha256: string) => `"${sha256}"`;

/** What is sent: a release image, or an esp_delta_ota patch that produces one. */
export interface Representation {
  /** Blob id (SHA-256) of the bytes; also the transfer's patch id. */
  blobId: string;
  size: number;
  /** The release these bytes install (for the rollout engine's gate). */
  releaseSha256: string;
  /** For log lines: "0.14.4" or "0.14.3→0.14.4 (esp_delta_ota)". */
  label: string;
}

export const imageOf = (r: ReleaseRow): Representation => ({ blobId: r.sha256, size: r.size, releaseSha256: r.sha256, label: r.version });

export class ImageSender {
  private readonly lastProgress = new Map<string, number>();

  constructor(private readonly d: SendDeps) {}

  /**
   * `headers`: protocol extras (HTTPUpdate's x-MD5). `onRefused` words a gate refusal for the
   * protocol (HTTPUpdate: 304; esp_https_ota: 503 with Retry-After).
   */
  send(req: IncomingMessage, res: ServerResponse, deviceId: string, rep: Representation, headers: Record<string, string>, onRefused: (retryAfterSeconds: number, reason: string) => void): void {
    const size = rep.size;
    const etag = etagOf(rep.blobId);
    const head = req.method === 'HEAD';
    // §14.2: Range is defined for GET only; HEAD answers as the GET without Range would.
    const range = head ? { kind: 'full' as const } : answerRange(req.headers.range, size, { ifRange: header(req, 'if-range'), etag });
    const base = { ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-store', ...headers };
    if (range.kind === 'unsatisfiable') {
      refuse(this.d.log, req, res, 416, `range ${req.headers.range} is past the end of the ${size}-byte image`, { deviceId }, { ...base, 'Content-Range': `bytes */${size}` });
      return;
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : size - 1;
    const length = end - start + 1;
    if (head) {
      res.writeHead(200, { ...base, 'Content-Type': 'application/octet-stream', 'Content-Length': size });
      res.end();
      return;
    }
    const admit = this.d.gate.admit(HTTP_BEARER, deviceId, length, { patchId: rep.blobId, releaseSha256: rep.releaseSha256 });
    if (!admit.ok) {
      this.d.events.emit('transfer.refused', { deviceId, patchId: rep.blobId, bearer: HTTP_BEARER, retryAfterSeconds: admit.retryAfterSeconds, reason: admit.reason, answered: true });
      onRefused(admit.retryAfterSeconds, admit.reason);
      return;
    }
    if (range.kind === 'full' && range.why) this.d.log.info({ peer: peerOf(req), deviceId, why: range.why }, 'range not served; whole image sent');
    let path: string;
    try {
      path = this.d.blobs.path(rep.blobId);
      if (this.d.blobs.size(rep.blobId) !== size) throw new Error(`blob size differs from the expected ${size}`);
    } catch (err) {
      this.d.log.error({ deviceId, blob: rep.blobId.slice(0, 12), err }, 'image unavailable');
      refuse(this.d.log, req, res, 503, 'image unavailable on the gateway; try again later', { deviceId }, retryAfter(300));
      return;
    }
    this.d.transfers.begin(deviceId, rep.blobId, size, HTTP_BEARER);
    if (start === 0) this.d.events.emit('device.report', { deviceId, status: 'downloading', releaseSha256: rep.releaseSha256 });
    res.writeHead(range.kind === 'partial' ? 206 : 200, {
      ...base,
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      ...(range.kind === 'partial' ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    this.d.log.info({ peer: peerOf(req), deviceId, what: rep.label, status: res.statusCode, start, end, size }, 'sending image');
    let pos = start;
    const stream = createReadStream(path, { start, end, highWaterMark: 64 * 1024 });
    stream.on('data', (chunk) => {
      const n = chunk.length;
      const o = this.d.transfers.blockServed(deviceId, rep.blobId, size, HTTP_BEARER, pos, n);
      pos += n;
      this.progress(deviceId, rep.blobId, o.row.offset, size, o.completed);
      if (!res.write(chunk)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => res.end());
    stream.on('error', (err) => {
      this.d.log.error({ deviceId, err }, 'reading the image failed mid-body; connection dropped');
      res.destroy();
    });
    res.on('close', () => {
      if (res.writableFinished) return;
      stream.destroy();
      this.d.log.warn({ peer: peerOf(req), deviceId, sent: pos - start, of: length, offset: pos }, 'client went away mid-body; it can resume with Range');
    });
  }

  private progress(deviceId: string, id: string, offset: number, size: number, completed: boolean): void {
    const key = `${deviceId}\u0000${id}`;
    if (completed) {
      this.lastProgress.delete(key);
      this.d.events.emit('transfer.progress', { deviceId, patchId: id, offset: size, size, bearer: HTTP_BEARER });
      this.d.events.emit('transfer.completed', { deviceId, patchId: id, size, bearer: HTTP_BEARER });
      return;
    }
    const now = this.d.clock.monotonic();
    const last = this.lastProgress.get(key);
    if (last !== undefined && now - last < this.d.progressIntervalMs) return;
    this.lastProgress.set(key, now);
    this.d.events.emit('transfer.progress', { deviceId, patchId: id, offset, size, bearer: HTTP_BEARER });
  }

  /** Forget throttle state of transfers idle for a while. */
  sweep(idleMs: number): void {
    const now = this.d.clock.monotonic();
    for (const [k, t] of this.lastProgress) if (now - t > idleMs) this.lastProgress.delete(k);
  }
}

/** One header value; a repeated header (an array) is refused by the caller's parser as ambiguous. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
