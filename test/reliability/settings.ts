/**
 * How hard the reliability suites push. CI runs the short setting inside `npm test`; `npm run torture`
 * sets FURROW_TORTURE_LONG=1 for the long one. A per-suite variable overrides either.
 */
export const LONG = process.env.FURROW_TORTURE_LONG === '1';

export function iterations(envName: string, ci: number, long: number): number {
  const raw = process.env[envName];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${envName}=${JSON.stringify(raw)}: expected a positive integer`);
    return n;
  }
  return LONG ? long : ci;
}

/** Fixed seed in CI so a failure reproduces; FURROW_TORTURE_SEED replays a long run's seed. */
export function seed(): number {
  const raw = process.env.FURROW_TORTURE_SEED;
  if (raw) return Number(raw) | 0;
  return LONG ? (Date.now() & 0x7fffffff) : 20261125;
}
