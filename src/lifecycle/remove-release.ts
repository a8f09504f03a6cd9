import type { Config } from '../config/index.ts';
import { InputError } from '../errors.ts';
import type { Db } from '../store/database.ts';
import { ReleaseRepo, type ReleaseRow } from '../store/releases.ts';
import { retainedClearing } from './retained.ts';

/** Everything that goes with a release: what `release remove` refuses over, and `--force` deletes. */
export interface ReleaseRemovalPlan {
  release: ReleaseRow;
  /** Rollouts to this release (with their waves, members, log and LoRa multicast sessions). */
  rollouts: Array<{ id: string; state: string }>;
  /** Patches to or from this release. */
  patches: Array<{ id: string; fromSha256: string; toSha256: string; formatCap: number; size: number }>;
  /** Delivery tokens (signed manifests) of those patches or this release. */
  deliveries: number;
  /** Active transfers of those patches, aborted with them. */
  activeTransfers: number;
  /** Version names of the images the patches connect, for messages. */
  versions: Record<string, string>;
}

export function planReleaseRemoval(db: Db, product: string, version: string): ReleaseRemovalPlan {
  const release = new ReleaseRepo(db).byVersion(product, version);
  if (!release) throw new InputError('RELEASE_NOT_FOUND', `no release ${product} ${version}`, { hint: 'see `furrow release list`' });
  const sha = release.sha256;
  const rollouts = db.prepare('SELECT id, state FROM rollouts WHERE release_sha256 = ? ORDER BY id').all(sha) as ReleaseRemovalPlan['rollouts'];
  const patches = (
    db
      .prepare('SELECT id, from_sha256, to_sha256, format_cap, size FROM patches WHERE to_sha256 = ? OR from_sha256 = ? ORDER BY to_sha256, from_sha256, format_cap')
      .all(sha, sha) as Array<{ id: string; from_sha256: string; to_sha256: string; format_cap: number; size: number }>
  ).map((p) => ({ id: p.id, fromSha256: p.from_sha256, toSha256: p.to_sha256, formatCap: p.format_cap, size: p.size }));
  const orphaned = orphanedPatchIds(db, sha, patches.map((p) => p.id));
  const deliveries = db.prepare(`SELECT count(*) AS n FROM deliveries WHERE release_sha256 = ? OR patch_id IN (SELECT value FROM json_each(?))`).get(sha, JSON.stringify(orphaned)) as { n: number };
  const active = db.prepare(`SELECT count(*) AS n FROM transfers WHERE state = 'active' AND patch_id IN (SELECT value FROM json_each(?))`).get(JSON.stringify(orphaned)) as { n: number };
  const versions: Record<string, string> = {};
  for (const r of db.prepare('SELECT sha256, version FROM releases WHERE product = ?').all(product) as Array<{ sha256: string; version: string }>) versions[r.sha256] = r.version;
  return { release, rollouts, patches, deliveries: deliveries.n, activeTransfers: active.n, versions };
}

/** Patch blobs no longer served once these rows go (the full image may also serve another release's rows). */
function orphanedPatchIds(db: Db, sha: string, ids: string[]): string[] {
  const stillUsed = db.prepare('SELECT 1 FROM patches WHERE id = ? AND to_sha256 != ? AND from_sha256 != ? LIMIT 1');
  return [...new Set(ids)].filter((id) => !stillUsed.get(id, sha, sha));
}

/** Says in words what the plan removes (for the refusal and for --force). */
export function describeRemoval(plan: ReleaseRemovalPlan): string[] {
  const lines: string[] = [];
  const version = (sha: string) => (sha === '' ? '(any: full image)' : (plan.versions[sha] ?? sha.slice(0, 12)));
  for (const r of plan.rollouts) lines.push(`rollout ${r.id} (${r.state}) with its waves, members, history and multicast sessions`);
  for (const p of plan.patches) lines.push(`patch ${p.id.slice(0, 12)} ${version(p.fromSha256)} → ${version(p.toSha256)} (format ≤ v${p.formatCap}, ${p.size} bytes)`);
  if (plan.deliveries > 0) lines.push(`${plan.deliveries} delivery token(s) (signed manifests handed to devices)`);
  if (plan.activeTransfers > 0) lines.push(`${plan.activeTransfers} active transfer(s), aborted`);
  return lines;
}

/**
 * Removes a release and, when forced, everything that needs it (see ReleaseRemovalPlan). Refused otherwise:
 * a running rollout would lose its target and devices mid-download their patch. Blobs stay until `furrow gc`.
 */
export function removeRelease(db: Db, config: Config, product: string, version: string, opts: { force: boolean; now: number }): ReleaseRemovalPlan & { clearedTopics: string[] } {
  return db.transaction(() => {
    const plan = planReleaseRemoval(db, product, version);
    const sha = plan.release.sha256;
    if ((plan.rollouts.length > 0 || plan.patches.length > 0) && !opts.force) {
      throw new InputError('RELEASE_IN_USE', `release ${product} ${version} is needed by:\n  ${describeRemoval(plan).join('\n  ')}`, {
        hint: `abort and wait for the rollouts, or add --force to remove all of the above with the release`,
      });
    }
    const orphaned = JSON.stringify(orphanedPatchIds(db, sha, plan.patches.map((p) => p.id)));
    db.prepare(`UPDATE transfers SET state = 'aborted' WHERE state IN ('active', 'paused') AND patch_id IN (SELECT value FROM json_each(?))`).run(orphaned);
    db.prepare(`DELETE FROM deliveries WHERE release_sha256 = ? OR patch_id IN (SELECT value FROM json_each(?))`).run(sha, orphaned);
    // Rollout children (waves, members, log, multicast sessions and their members) go by ON DELETE CASCADE.
    db.prepare('DELETE FROM rollouts WHERE release_sha256 = ?').run(sha);
    db.prepare('DELETE FROM patches WHERE to_sha256 = ? OR from_sha256 = ?').run(sha, sha);
    db.prepare('DELETE FROM releases WHERE sha256 = ?').run(sha);
    const mqtt = retainedClearing(db, config);
    const clearedTopics = mqtt ? plan.rollouts.flatMap((r) => [mqtt.topics.rolloutState(r.id), mqtt.topics.rolloutProgress(r.id)]) : [];
    mqtt?.clear(clearedTopics, opts.now);
    return { ...plan, clearedTopics };
  })();
}
