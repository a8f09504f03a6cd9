import type { Config } from '../config/index.ts';
import { daemonStatusUrl } from './commands/status.ts';

/** Whether a daemon of this config answers, so the CLI can say truthfully what happens next. */
export type DaemonProbe = { running: true; url: string } | { running: false; why: string };

/** Asks the daemon's /readyz (the HTTP listener `furrow status` reads) for at most `timeoutMs`. */
export async function probeDaemon(config: Config, timeoutMs = 1000): Promise<DaemonProbe> {
  const status = daemonStatusUrl(config.metrics);
  if (!status) return { running: false, why: 'metrics.port is 0, so a running daemon cannot be asked' };
  const url = status.replace(/\/status$/, '/readyz');
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok ? { running: true, url } : { running: false, why: `the daemon at ${url} is not ready (HTTP ${res.status})` };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    return { running: false, why: `no daemon answers at ${url} (${cause})` };
  }
}

/** What `rollout apply` can promise about a rollout it just stored. */
export function rolloutPickupNote(p: DaemonProbe): string {
  if (p.running) return 'the running daemon picks it up within a second';
  return `${p.why}: devices are offered the update once the daemon runs with this config (furrow start)`;
}

/** What `release add` can promise about patches to the release it just stored. */
export function patchBuildNote(p: DaemonProbe, config: Config, product: string, version: string): string {
  const byHand = `furrow delta build --from <version> --to ${version} --product ${product}`;
  if (!config.delta.buildOnRelease) return `patches: delta.buildOnRelease is off; the daemon builds one when a device needs it, or build it now with \`${byHand}\``;
  if (p.running) return `patches: the running daemon is building the full image and a delta from every version ${product} devices run (furrow delta list)`;
  return `patches: none built yet (${p.why}); the daemon builds them when it runs, and one when a device checks in needing it; now: \`${byHand}\``;
}
