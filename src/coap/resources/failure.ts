/**
 * Which `failed` reports count as failures (PROTOCOL.md "POST /r"). The device firmware retries
 * transient failures itself (furrow_err_transient in firmware/components/furrow_ota/furrow_errors.c)
 * and reports `failed` for them only after FURROW_TRANSIENT_RETRIES in a row, as
 * "retries exhausted: <reason>". Firmware before that refused the patch at the first one, with the
 * reason "<step>: <reason>": such a report says nothing about the release (a lost answer, one 4.04 or
 * 5.00, an NVS write error), so it does not fail the transfer nor count toward a rollout's thresholds.
 */

/** furrow_strerror() of the error codes furrow_err_transient() accepts (test/unit/coap/failure.test.ts
 * reads them from the C sources, so the two lists cannot drift apart). */
export const TRANSIENT_REASONS: readonly string[] = [
  'flash, state, crypto or network callback failed',
  'no answer from the server',
  'server answered with an error',
  'malformed CoAP message',
  'flash does not read back what was written',
];

export const EXHAUSTED_PREFIX = 'retries exhausted: ';

/** True when a `failed` report's reason is one transient failure that older firmware did not retry. */
export function isTransientFailure(reason: string | undefined): boolean {
  if (!reason || reason.startsWith(EXHAUSTED_PREFIX)) return false;
  return TRANSIENT_REASONS.some((t) => reason.endsWith(`: ${t}`));
}
