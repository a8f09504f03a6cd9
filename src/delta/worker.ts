/**
 * Worker-thread body for patch builds: encode (bsdiff + chunk streams + xz) and verify by applying, so
 * the daemon's event loop keeps serving CoAP blocks while a release is being diffed. One worker serves
 * many builds (requests carry an id), because starting one costs a TypeScript load.
 */
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.ts';
import { applyPatch } from './apply.ts';
import { encodeFullImage, encodePatch, type EncodeOptions } from './encode.ts';

export interface BuildRequest {
  id: number;
  oldImg: Uint8Array;
  newImg: Uint8Array;
  opts: Omit<EncodeOptions, 'onProgress'>;
}

/** Asks the worker to exit once the builds it is running have returned. */
export interface WorkerControl {
  type: 'close';
}

export type WorkerMessage =
  | { id: number; type: 'progress'; done: number; total: number }
  | { id: number; type: 'done'; patch: Uint8Array }
  | { id: number; type: 'error'; message: string; code?: string; input?: boolean };

const port = parentPort!;

async function build(req: BuildRequest): Promise<void> {
  const { id } = req;
  try {
    const onProgress = (done: number, total: number) => port.postMessage({ id, type: 'progress', done, total } satisfies WorkerMessage);
    const patch =
      req.oldImg.length === 0 ? await encodeFullImage(req.newImg, { ...req.opts, onProgress }) : await encodePatch(req.oldImg, req.newImg, { ...req.opts, onProgress });
    const out = applyPatch(req.oldImg, patch);
    if (!out.equals(Buffer.from(req.newImg.buffer, req.newImg.byteOffset, req.newImg.length))) throw new Error('built patch applies but does not reproduce the target image');
    port.postMessage({ id, type: 'done', patch } satisfies WorkerMessage);
  } catch (err) {
    const e = err as Error & { code?: string };
    port.postMessage({ id, type: 'error', message: e.message, input: err instanceof InputError, ...(e.code ? { code: e.code } : {}) } satisfies WorkerMessage);
  }
}

let active = 0;
let closing = false;
port.on('message', (msg: BuildRequest | WorkerControl) => {
  if ('type' in msg) {
    closing = true;
    if (active === 0) process.exit(0);
    return;
  }
  if (closing) return;
  active++;
  void build(msg).finally(() => {
    active--;
    if (closing && active === 0) process.exit(0);
  });
});
