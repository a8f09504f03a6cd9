/**
 * Defaults used until the rollout engine and scheduler are wired: offer the newest release of the
 * device's product when the device runs something else; admit every block.
 */
import type { Db } from '../store/database.ts';
import type { AdmitResult, CheckinFacts, PatchInfo, PatchProvider, TransmitGate, UpdateDecision, UpdatePolicy } from '../policy.ts';
import { ReleaseRepo } from '../store/releases.ts';

export class NewestReleasePolicy implements UpdatePolicy {
  private readonly releases: ReleaseRepo;
  constructor(db: Db) {
    this.releases = new ReleaseRepo(db);
  }

  decide(facts: CheckinFacts): UpdateDecision {
    const latest = this.releases.latest(facts.product);
    if (!latest || latest.sha256 === facts.runningSha256) return { kind: 'none' };
    return { kind: 'update', releaseSha256: latest.sha256 };
  }
}

export const admitAll: TransmitGate = {
  admit(): AdmitResult {
    return { ok: true };
  },
};

/**
 * Serves patches already recorded in the `patches` table (built by the delta module or stored by
 * hand); it builds nothing. The delta module's provider replaces it in the daemon.
 */
export class StoredPatchProvider implements PatchProvider {
  constructor(private readonly db: Db) {}

  get(fromSha256: string, toSha256: string): PatchInfo | undefined {
    const r = this.db
      .prepare('SELECT id, size, kind, from_sha256, to_sha256 FROM patches WHERE from_sha256 = ? AND to_sha256 = ?')
      .get(fromSha256, toSha256) as { id: string; size: number; kind: 'delta' | 'full'; from_sha256: string; to_sha256: string } | undefined;
    return r ? { id: r.id, size: r.size, kind: r.kind, fromSha256: r.kind === 'full' ? null : r.from_sha256, toSha256: r.to_sha256 } : undefined;
  }

  request(): void {
    /* nothing to build here: without a delta module only stored patches exist */
  }
}
