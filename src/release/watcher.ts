import type { DaemonContext } from '../context.ts';
import type { Service } from '../service.ts';
import { ReleaseRepo } from '../store/releases.ts';

/**
 * Releases are added by the CLI, a separate process writing the same SQLite file. The daemon notices
 * new rows by polling the table (cheap: one indexed max(rowid)) and announces them on the event bus,
 * so the patch cache and rollouts react without a control socket.
 */
export class ReleaseWatcher implements Service {
  readonly name = 'release-watcher';
  private timer: NodeJS.Timeout | undefined;
  private lastRowid = 0;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly intervalMs = 2000,
  ) {}

  async start(): Promise<void> {
    this.lastRowid = this.maxRowid();
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private maxRowid(): number {
    return (this.ctx.db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM releases').get() as { m: number }).m;
  }

  /** Emits release.added for rows above the last seen rowid. Public for tests. */
  poll(): void {
    try {
      const rows = this.ctx.db.prepare('SELECT rowid, sha256 FROM releases WHERE rowid > ? ORDER BY rowid').all(this.lastRowid) as Array<{ rowid: number; sha256: string }>;
      const repo = new ReleaseRepo(this.ctx.db);
      for (const r of rows) {
        this.lastRowid = r.rowid;
        const rel = repo.get(r.sha256);
        if (rel) this.ctx.events.emit('release.added', { product: rel.product, version: rel.version, sha256: rel.sha256, size: rel.size });
      }
    } catch (err) {
      this.ctx.log.warn({ module: 'release', err }, 'could not poll for new releases; will retry');
    }
  }
}
