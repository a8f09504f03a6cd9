import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXHAUSTED_PREFIX, isTransientFailure, TRANSIENT_REASONS } from '../../../src/coap/resources/failure.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const errorsC = readFileSync(resolve(ROOT, 'firmware/components/furrow_ota/furrow_errors.c'), 'utf8');
const updateC = readFileSync(resolve(ROOT, 'firmware/components/furrow_ota/furrow_update.c'), 'utf8');

describe('transient failures: the gateway and the firmware agree', () => {
  it('lists exactly the furrow_strerror texts of the codes furrow_err_transient accepts', () => {
    const body = /int furrow_err_transient\(int err\)\s*\{([^}]*)\}/.exec(errorsC)?.[1] ?? '';
    const codes = [...body.matchAll(/FURROW_ERR_[A-Z_]+/g)].map((m) => m[0]);
    expect(codes.length).toBeGreaterThanOrEqual(4);
    const text = (code: string) => new RegExp(`case ${code}: return "([^"]+)"`).exec(errorsC)?.[1];
    expect([...TRANSIENT_REASONS].sort()).toEqual(codes.map(text).sort());
  });

  it('uses the prefix the firmware puts on a failure it retried until it gave up', () => {
    expect(updateC).toContain(`what = "${EXHAUSTED_PREFIX.replace(/: $/, '')}"`);
  });

  it('takes one transient failure of older firmware as not counted, and everything else as a failure', () => {
    expect(isTransientFailure('patch download: server answered with an error')).toBe(true);
    expect(isTransientFailure('state: flash, state, crypto or network callback failed')).toBe(true);
    expect(isTransientFailure('retries exhausted: server answered with an error')).toBe(false);
    expect(isTransientFailure('manifest: signature does not verify')).toBe(false);
    expect(isTransientFailure('patch: patch base is not the running image')).toBe(false);
    expect(isTransientFailure('server answered with an error')).toBe(false); // no step: not the firmware's format
    expect(isTransientFailure(undefined)).toBe(false);
  });
});
