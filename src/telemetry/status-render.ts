import type { StatusSnapshot } from './status.ts';
import { plural } from '../text.ts';

export function progressBar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function align(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** The text an operator reads first when SSH'd into the gateway. No colours: it is often piped or logged. */
export function renderStatus(s: StatusSnapshot, note?: string): string {
  const out: string[] = [];
  const origin = s.daemon
    ? `from the running daemon (pid ${s.daemon.pid}, up ${duration(s.daemon.uptimeSeconds)}${s.daemon.ready ? '' : ', still starting'})`
    : `from the database${note ? `: ${note}` : ''}`;
  out.push(`furrow gateway ${s.gateway} — ${origin}`);
  const mqtt = !s.mqtt.enabled
    ? 'disabled'
    : s.mqtt.connected === null
      ? 'configured (link state known only to the running daemon)'
      : s.mqtt.connected
        ? `connected${s.mqtt.since ? ` since ${s.mqtt.since}` : ''}, ${s.mqtt.published ?? 0} events acknowledged`
        : `DISCONNECTED${s.mqtt.lastError ? `: ${s.mqtt.lastError}` : ''}`;
  out.push(`MQTT       ${mqtt}`);
  const o = s.outbox;
  out.push(
    `Outbox     ${o.depth} waiting${o.oldestPendingAgeSeconds !== null ? ` (oldest ${duration(o.oldestPendingAgeSeconds)} old)` : ''}, last acknowledged #${o.lastAckedSeq}, ${o.droppedTotal} dropped`,
  );
  out.push(`Store      ${plural(s.counts.devices, 'device')}, ${plural(s.counts.releases, 'release')}, ${plural(s.counts.transfersActive, 'active transfer')}`);
  if (s.modem) {
    const m = s.modem;
    const parts = [m.model, m.registered ? 'registered' : 'NOT REGISTERED'];
    if (m.rsrp !== undefined) parts.push(`RSRP ${m.rsrp} dBm`);
    if (m.rsrq !== undefined) parts.push(`RSRQ ${m.rsrq} dB`);
    if (m.sinr !== undefined) parts.push(`SINR ${m.sinr} dB`);
    if (m.csq !== undefined) parts.push(`CSQ ${m.csq}`);
    if (m.ceLevel !== undefined) parts.push(`CE level ${m.ceLevel}`);
    if (m.cellId !== undefined) parts.push(`cell ${m.cellId}`);
    parts.push(`at ${m.at}`);
    out.push(`Modem      ${parts.join('  ')}`);
  } else {
    out.push(`Modem      ${s.daemon ? 'no health report yet (or no modem configured)' : 'known only to the running daemon (the last reading: furrow modem status)'}`);
  }

  out.push('', `Rollouts (${s.rollouts.length})`);
  if (s.rollouts.length === 0) out.push('  none');
  out.push(
    ...align(
      s.rollouts.map((r) => {
        const p = r.progress;
        const bar = p ? `${progressBar(p.total ? p.updated / p.total : 0)} ${p.total ? ((100 * p.updated) / p.total).toFixed(0) : '0'}%` : '(no device counts yet)';
        const counts = p ? `${p.updated}/${p.total} updated, ${p.failed} failed, ${p.inProgress} in progress` : '';
        return [r.id, r.state, `wave ${r.wave}`, r.release, bar, counts, r.reason ? `reason: ${r.reason}` : ''];
      }),
    ),
  );

  out.push('', `Active transfers (${s.transfers.length}${s.counts.transfersActive > s.transfers.length ? ` of ${s.counts.transfersActive}` : ''})`);
  if (s.transfers.length === 0) out.push('  none');
  out.push(
    ...align(
      s.transfers.map((t) => [
        t.deviceId,
        t.patchId.slice(0, 12),
        t.state,
        progressBar(t.percent / 100),
        `${t.percent.toFixed(1)}%`,
        `${bytes(t.offset)} / ${bytes(t.size)}`,
        t.bearer ?? '',
      ]),
    ),
  );

  if (s.budgets.length > 0) {
    out.push('', 'Radio budgets');
    out.push(
      ...align(
        s.budgets.map((b) => [
          b.bearer,
          `duty cycle ${progressBar(b.dutyCycleUsed, 10)} ${(100 * b.dutyCycleUsed).toFixed(0)}%`,
          `queue ${b.queueLength}`,
          b.bytesUsed !== undefined ? `bytes ${bytes(b.bytesUsed)}${b.bytesBudget !== undefined ? ` / ${bytes(b.bytesBudget)}` : ''}` : '',
        ]),
      ),
    );
  }
  return out.join('\n') + '\n';
}
