import { formatDuration } from '../schedule/units.ts';
import type { MemberRow, RolloutRow, WaveCounts, WaveRow } from '../store/rollouts.ts';
import type { RolloutPlan } from './plan.ts';

const sz = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);

/** A count right-aligned in `width` with its noun padded, so table columns stay aligned. */
function countCol(n: number, width: number, one: string): string {
  return `${String(n).padStart(width)} ${(n === 1 ? one : `${one}s`).padEnd(one.length + 1)}`;
}

export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

/** `furrow rollout plan` output: terraform-style change summary, then what the rollout will do. */
export function renderPlan(p: RolloutPlan): string {
  const out: string[] = [];
  out.push(...p.diff, '');
  out.push(`release   ${p.release.product} ${p.release.version}  ${sz(p.release.size)}  sha256 ${p.release.sha256.slice(0, 16)}`);
  out.push(`devices   ${p.selected} selected${p.alreadyCurrent ? `, ${p.alreadyCurrent} already ${p.alreadyCurrent === 1 ? 'runs' : 'run'} it (left out)` : ''}`);
  out.push(`priority  ${p.spec.priority}${p.spec.deadline ? `   deadline ${p.spec.deadline}` : ''}${p.spec.budget !== undefined ? `   budget ${sz(p.spec.budget)}` : ''}`);
  const w = p.spec.windows;
  if (w.deny.length || w.allow.length) {
    const fmt = (x: { from: string; to: string; reason?: string | undefined; days: string[] }) => `${x.from}-${x.to}${x.days.length < 7 ? ` ${x.days.join(',')}` : ''}${x.reason ? ` (${x.reason})` : ''}`;
    out.push(`windows   ${w.timezone}${w.deny.length ? `  not ${w.deny.map(fmt).join(', ')}` : ''}${w.allow.length ? `  only ${w.allow.map(fmt).join(', ')}` : ''}`);
  }
  out.push('', 'waves');
  for (const wave of p.waves) {
    const spec = p.spec.waves[wave.index]!;
    out.push(`  ${String(wave.index).padStart(2)} ${wave.name.padEnd(10)} ${countCol(wave.size, 6, 'device')} ${sz(wave.bytes).padStart(10)}  soak ${formatDuration(wave.soakMs).padEnd(6)} proceed at ${Math.round(spec.proceedAt * 100)}%  halt over ${Math.round((spec.maxFailureRate ?? p.spec.halt.maxFailureRate) * 100)}% failed`);
  }
  out.push(`  halt also at ${p.spec.halt.maxRollbacks} rollbacks; failure rate judged from ${p.spec.halt.minFinished} finished devices per wave`);
  out.push('', 'per source version');
  for (const s of p.sources) {
    const what = s.choice.kind === 'delta' ? `patch ${sz(s.choice.size)} (${Math.round((100 * s.choice.size) / p.release.size)}% of image)` : `full image ${sz(s.choice.size)}${s.choice.built ? '' : ' (no patch built yet)'}`;
    out.push(`  ${s.fromVersion.padEnd(12)} ${(s.fromSha256 ?? 'unknown').slice(0, 12)}  ${countCol(s.devices, 6, 'device')} ${what}`);
  }
  out.push('', 'per bearer');
  for (const b of p.bearers) {
    out.push(`  ${b.bearer.padEnd(12)} ${countCol(b.devices, 6, 'device')} ${sz(b.bytes).padStart(10)} payload  ${sz(b.wireBytes).padStart(10)} on the wire  airtime ${formatDuration(b.airtimeMs)}  takes at least ${formatDuration(b.durationMs)}`);
  }
  out.push('', `total     ${sz(p.totalBytes)}`);
  for (const warn of p.warnings) out.push(`warning: ${warn}`);
  return out.join('\n') + '\n';
}

export interface StatusView {
  row: RolloutRow;
  version: string;
  waves: WaveRow[];
  counts: WaveCounts[];
  failures: MemberRow[];
  history: Array<{ at: number; state: string; wave: number | null; reason: string | null }>;
  soakMs: number[];
}

/** `furrow rollout status <id>`: one progress bar per wave, failures grouped by reason, timeline. */
export function renderStatus(v: StatusView, now: number): string {
  const out: string[] = [];
  const r = v.row;
  out.push(`rollout ${r.id}  ${r.state.toUpperCase()}  release ${v.version} (${r.releaseSha256.slice(0, 12)})  wave ${r.currentWave + 1} of ${v.waves.length}`);
  if (r.reason && r.state !== 'running') out.push(`  reason: ${r.reason}`);
  for (const w of v.waves) {
    const c = v.counts.find((x) => x.wave === w.wave) ?? { members: w.size, succeeded: 0, failed: 0, rolledBack: 0, inProgress: 0, pending: 0, cancelled: 0, wave: w.wave };
    const done = c.succeeded + c.failed + c.rolledBack;
    let note: string = w.state;
    if (w.state === 'soaking') note = `soaking ${formatDuration(w.soakElapsedMs)} of ${formatDuration(v.soakMs[w.wave] ?? 0)}`;
    if (w.state === 'done' && w.doneAt) note = `done ${new Date(w.doneAt).toISOString().slice(0, 16).replace('T', ' ')}`;
    out.push(
      `  ${String(w.wave).padStart(2)} ${w.name.padEnd(10)} ${bar(c.members ? done / c.members : 0)} ${String(c.succeeded).padStart(5)}/${String(c.members).padEnd(5)} ok` +
        `  ${c.failed + c.rolledBack ? `${c.failed} failed ${c.rolledBack} rolled back  ` : ''}${c.inProgress ? `${c.inProgress} in progress  ` : ''}${note}`,
    );
  }
  if (v.failures.length) {
    out.push('', 'failures');
    const byReason = new Map<string, MemberRow[]>();
    for (const f of v.failures) {
      const k = `${f.state}: ${f.reason ?? 'no reason given'}`;
      byReason.set(k, [...(byReason.get(k) ?? []), f]);
    }
    for (const [reason, list] of [...byReason.entries()].sort((a, b) => b[1].length - a[1].length)) {
      out.push(`  ${String(list.length).padStart(4)} × ${reason}   (${list.slice(0, 5).map((m) => m.deviceId).join(', ')}${list.length > 5 ? ', …' : ''})`);
    }
  }
  out.push('', 'timeline');
  for (const h of v.history.slice(-12)) {
    out.push(`  ${new Date(h.at).toISOString().slice(0, 19).replace('T', ' ')}  ${h.state.padEnd(9)} ${h.wave === null ? '' : `wave ${h.wave}`}  ${h.reason ?? ''}`.trimEnd());
  }
  void now;
  return out.join('\n') + '\n';
}
