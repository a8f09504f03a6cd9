/**
 * Runs patch builds (worker.ts) on one worker thread. The worker sits beside this module with the same
 * extension: `worker.js` in the compiled build (dist/), `worker.ts` in a source checkout run through tsx.
 * Workers do not inherit tsx's loader, so a .ts worker is bootstrapped by a one-line script that
 * registers tsx first. The worker starts on first use and is reused.
 */
import { Worker } from 'node:worker_threads';
import { FurrowError, InputError } from '../errors.ts';
import type { EncodeOptions } from './encode.ts';
import type { BuildRequest, WorkerControl, WorkerMessage } from './worker.ts';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url);

interface Pending {
  /** The worker running it: a dying worker fails only its own builds. */
  worker: Worker;
  resolve(b: Buffer): void;
  reject(e: Error): void;
  onProgress: ((done: number, total: number) => void) | undefined;
}

export class BuildWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** Encodes and verifies a furrow patch off the event loop; an empty `oldImg` gives the full-image patch. */
  encode(oldImg: Uint8Array, newImg: Uint8Array, opts: EncodeOptions = {}): Promise<Buffer> {
    const { onProgress, ...plain } = opts;
    const id = this.nextId++;
    const w = this.ensure();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { worker: w, resolve, reject, onProgress });
      w.postMessage({ id, oldImg, newImg, opts: plain } satisfies BuildRequest);
    });
  }

  /** Terminates the worker; builds still running are rejected. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const inFlight = [...this.pending].filter(([, p]) => p.worker === w);
    if (inFlight.length === 0) {
      await w.terminate();
      return;
    }
    // Terminating a thread while it is inside bsdiff-node's native call can abort the whole process, so
    // a busy worker is told to exit once its current build returns; its builds fail now.
    for (const [id, p] of inFlight) {
      this.pending.delete(id);
      p.reject(new FurrowError('DELTA_BUILD_FAILED', 'patch build worker exited (closed) before finishing'));
    }
    w.postMessage({ type: 'close' } satisfies WorkerControl);
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = FROM_SOURCE ? new Worker(tsxBoot(), { eval: true }) : new Worker(WORKER_URL);
    this.worker = w;
    // an idle worker must not keep the CLI process alive
    w.unref();
    w.on('message', (m: WorkerMessage) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') {
        p.onProgress?.(m.done, m.total);
        return;
      }
      this.pending.delete(m.id);
      if (m.type === 'done') p.resolve(Buffer.from(m.patch.buffer, m.patch.byteOffset, m.patch.length));
      else p.reject(m.input ? new InputError(m.code ?? 'DELTA_BAD_INPUT', m.message) : new FurrowError(m.code ?? 'DELTA_BUILD_FAILED', `patch build failed: ${m.message}`));
    });
    const failAll = (why: string) => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, p] of this.pending) {
        if (p.worker !== w) continue;
        this.pending.delete(id);
        p.reject(new FurrowError('DELTA_BUILD_FAILED', why));
      }
    };
    w.on('error', (err) => failAll(`patch build worker crashed: ${err.message}`));
    w.on('exit', (code) => failAll(`patch build worker exited (code ${code}) before finishing`));
    return w;
  }
}

/** Registers tsx in the worker, then imports worker.ts (resolved here: tsx is only present in a source checkout). */
function tsxBoot(): string {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
}
