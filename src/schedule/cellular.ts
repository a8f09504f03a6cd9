import type { CellularBearerConfig } from './config.ts';

export type CeLevel = 0 | 1 | 2;

/**
 * Coverage enhancement level from what the device or modem measured. NB-IoT cells pick CE levels by
 * RSRP thresholds the operator sets; these are the common defaults (3GPP TS 36.331 rsrp-ThresholdsPrachInfoList
 * as deployed: CE1 below -110 dBm, CE2 below -120 dBm). A poor SINR pushes one level deeper because the
 * cell then schedules repetitions anyway. Unknown coverage counts as CE1 (not best, not worst).
 */
export function ceLevel(facts: { rsrp?: number | null; snr?: number | null; ceLevel?: number | null }): CeLevel {
  if (facts.ceLevel === 0 || facts.ceLevel === 1 || facts.ceLevel === 2) return facts.ceLevel;
  if (facts.rsrp === undefined || facts.rsrp === null) return 1;
  let level: CeLevel = facts.rsrp >= -110 ? 0 : facts.rsrp >= -120 ? 1 : 2;
  if (facts.snr !== undefined && facts.snr !== null && facts.snr < -3 && level < 2) level = (level + 1) as CeLevel;
  return level;
}

const key = (l: CeLevel) => (`ce${l}` as const);

/**
 * How long one transfer of `bytes` takes, in ms: every block is one request/response round trip plus
 * its bytes at the coverage level's rate (the device asks for the next block only after this one).
 */
export function cellularTransferMs(cfg: CellularBearerConfig, level: CeLevel, bytes: number, blockSize: number): number {
  const blocks = Math.max(1, Math.ceil(bytes / blockSize));
  const wire = bytes + blocks * cfg.datagramOverheadBytes;
  return blocks * cfg.rttMs + (wire / cfg.bytesPerSecond[key(level)]) * 1000;
}

export function cellularMaxConcurrent(cfg: CellularBearerConfig, level: CeLevel): number {
  return Math.max(1, Math.floor(cfg.maxConcurrent[key(level)]));
}

/** Rounds a wait up to the next eDRX/PSM reachability occasion, so "come back at T" names a time the device can use. */
export function alignToCycle(waitMs: number, cycleSeconds: number | undefined): number {
  if (!cycleSeconds || waitMs <= 0) return waitMs;
  const c = cycleSeconds * 1000;
  return Math.ceil(waitMs / c) * c;
}
