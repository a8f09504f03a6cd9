/**
 * Firmware Update Object 5 State (/5/0/3) and Update Result (/5/0/5), Core Appendix E.6, and how a
 * result counts for furrow: which device report it becomes (so rollout thresholds count it like a
 * furrow device's) and which failure class it is in.
 */
export const FwState = { Idle: 0, Downloading: 1, Downloaded: 2, Updating: 3 } as const;

export type FailureClass = 'device-resources' | 'transfer' | 'package' | 'install' | 'cancelled';

export interface ResultMeaning {
  text: string;
  /** 'booted' = success, 'failed' / 'rolled_back' count against thresholds, undefined = not final. */
  report: 'booted' | 'failed' | 'rolled_back' | undefined;
  failureClass?: FailureClass;
}

export const UPDATE_RESULTS: Record<number, ResultMeaning> = {
  0: { text: 'initial value', report: undefined },
  1: { text: 'firmware updated successfully', report: 'booted' },
  2: { text: 'not enough flash memory for the new package', report: 'failed', failureClass: 'device-resources' },
  3: { text: 'out of RAM during download', report: 'failed', failureClass: 'device-resources' },
  4: { text: 'connection lost during download', report: 'failed', failureClass: 'transfer' },
  5: { text: 'integrity check failure for the new package', report: 'failed', failureClass: 'package' },
  6: { text: 'unsupported package type', report: 'failed', failureClass: 'package' },
  7: { text: 'invalid URI', report: 'failed', failureClass: 'transfer' },
  // The client could not install it and still runs its old image: a rollback as far as a rollout goes.
  8: { text: 'firmware update failed', report: 'rolled_back', failureClass: 'install' },
  9: { text: 'unsupported protocol', report: 'failed', failureClass: 'transfer' },
  10: { text: 'firmware update cancelled', report: 'failed', failureClass: 'cancelled' },
  // 1.1: deferred by the device (user postponed); not a failure, the flow waits.
  11: { text: 'firmware update deferred', report: undefined },
};

export function resultMeaning(code: number): ResultMeaning {
  return UPDATE_RESULTS[code] ?? { text: `unknown Update Result ${code}`, report: 'failed', failureClass: 'install' };
}
