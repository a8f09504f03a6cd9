/**
 * Defaults used until the rollout engine and scheduler are wired: offer the newest release of the
 * device's product when the device runs something else; admit every block.
 */
import type { Db } from '../store/database.ts';
import type { AdmitResult, CheckinFacts, PatchInfo, PatchProvider, TransmitGate, UpdateDecision, UpdatePolicy } from '../policy.ts';
import { ReleaseRepo } from '../store/releases.ts';
import { PatchRepo } from '../store/patches.ts';

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

  get(fromSha256: string, toSha256: string, formatCap: number, heldId?: string): PatchInfo | undefined {
    const r = new PatchRepo(this.db).best(fromSha256, toSha256, formatCap, heldId);
    return r ? { id: r.id, size: r.size, kind: r.kind, fromSha256: r.kind === 'full' ? null : r.fromSha256, toSha256: r.toSha256 } : undefined;
  }

  request(): void {
    /* nothing to build here: without a delta module only stored patches exist */
  }
}
