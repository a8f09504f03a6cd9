import { formatDuration } from '../schedule/units.ts';
import type { FleetResult, Progress } from './fleet.ts';

const sz = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);

export function progressLine(p: Progress, width = 30): string {
  const f = p.total ? (p.updated + p.failed) / p.total : 0;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${p.updated}/${p.total} updated ${p.failed} failed  wave ${p.wave}  ${p.rolloutState}  t=${formatDuration(p.virtualMs)}`;
}

/** The simulator's summary: outcome, time to update, bytes on air against the minimum, violations, waves. */
export function renderResult(r: FleetResult, title: string): string {
  const out: string[] = [];
  out.push(`${title}`);
  out.push(`  devices          ${r.devices}: ${r.updated} updated, ${r.failed} failed self-test, rollout ${r.rolloutState}${r.rolloutReason ? ` (${r.rolloutReason})` : ''}`);
  out.push(`  time to update   ${Number.isFinite(r.timeToUpdateMs) ? formatDuration(r.timeToUpdateMs) : 'n/a'} (virtual; ${(r.realMs / 1000).toFixed(1)} s real)`);
  out.push(`  bytes on air     ${sz(r.downlinkBytes)} vs minimum ${sz(r.minimumBytes)} (patch ${sz(r.patchSize)} × devices that finished) = ${(r.downlinkBytes / Math.max(1, r.minimumBytes)).toFixed(2)}×`);
  out.push(`  retransmitted    ${sz(r.retransmittedBytes)}   refusals: 5.03 ${r.refusals}, unanswered ${r.silentRefusals}   power cuts ${r.powerCuts}   daemon restarts ${r.restarts}`);
  if (r.dutyCycle !== undefined) out.push(`  airtime          ${formatDuration(r.airtimeMs)} downlink at ${r.dutyCycle * 100} % duty cycle; violations ${r.dutyCycleViolations}`);
  else out.push(`  duty-cycle violations ${r.dutyCycleViolations}`);
  out.push('  waves');
  for (const w of r.waves) {
    const t = (ms: number | null) => (ms === null ? '—' : `+${formatDuration(ms)}`);
    out.push(`    ${String(w.wave).padStart(2)} ${w.name.padEnd(8)} ${String(w.size).padStart(5)} devices  started ${t(w.startedMs).padEnd(8)} soak from ${t(w.soakStartedMs).padEnd(8)} done ${t(w.doneMs).padEnd(8)} ok ${w.succeeded} failed ${w.failed}`);
  }
  return out.join('\n') + '\n';
}
