import type { DeviceRow } from '../store/devices.ts';
import type { RolloutSpec } from './spec.ts';

/** Does this device fall under the rollout's selector? (Product always comes from the release.) */
export function selects(spec: RolloutSpec, d: Pick<DeviceRow, 'id' | 'product' | 'hwRev' | 'labels' | 'runningVersion'>): boolean {
  const s = spec.select;
  if (d.product !== spec.release.product) return false;
  if (s.exclude?.includes(d.id)) return false;
  if (s.devices && !s.devices.includes(d.id)) return false;
  if (s.hwRev && (d.hwRev === null || !s.hwRev.includes(d.hwRev))) return false;
  if (s.runningVersions && (d.runningVersion === null || !s.runningVersions.includes(d.runningVersion))) return false;
  for (const [k, want] of Object.entries(s.labels ?? {})) {
    const have = d.labels[k];
    if (have === undefined) return false;
    if (Array.isArray(want) ? !want.includes(have) : have !== want) return false;
  }
  return true;
}
