import { afterAll, describe, expect, it } from 'vitest';
import { applyPatch } from '../../../src/delta/index.ts';
import { BuildWorker } from '../../../src/delta/off-thread.ts';
import { InputError } from '../../../src/errors.ts';
import { editedPair } from './fixtures.ts';

describe('patch builds on a worker thread', () => {
  const worker = new BuildWorker();
  afterAll(() => worker.close());

  it('returns a verified patch and reports progress, reusing one worker for several builds', async () => {
    const { oldImg, newImg } = editedPair(51, 40_000);
    const seen: number[] = [];
    const patch = await worker.encode(oldImg, newImg, { onProgress: (d, t) => seen.push(d / t) });
    expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
    expect(seen.at(-1)).toBe(1);
    const full = await worker.encode(new Uint8Array(0), newImg);
    expect(applyPatch(new Uint8Array(0), full).equals(newImg)).toBe(true);
  });

  it('passes a bad input back as a typed InputError with its code', async () => {
    const err = await worker.encode(Buffer.from([1, 2, 3]), new Uint8Array(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('DELTA_BAD_SIZE');
  });

  it('rejects builds in flight when the worker is closed, and starts a new worker for the next build', async () => {
    const { oldImg, newImg } = editedPair(52, 40_000);
    const pending = worker.encode(oldImg, newImg);
    await worker.close();
    await expect(pending).rejects.toThrow(/worker exited/);
    const patch = await worker.encode(oldImg, newImg);
    expect(applyPatch(oldImg, patch).equals(newImg)).toBe(true);
  });
});
