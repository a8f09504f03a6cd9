import type { Db } from '../store/database.ts';
import { dayKey, monthKey, startOfNextDay, startOfNextMonth } from './tz.ts';

export interface SimBudget {
  dailyBytes?: number | undefined;
  monthlyBytes?: number | undefined;
}

type Period = 'day' | 'month';

/**
 * Bytes sent per bearer per calendar day and month (wall clock in the configured zone: a data plan is a
 * calendar thing). Counts live in memory and are written to SQLite in batches and on stop, so a crash
 * forgets at most one flush interval of usage.
 */
export class UsageLedger {
  private readonly counts = new Map<string, number>();
  private readonly dirty = new Set<string>();

  constructor(
    private readonly db: Db | undefined,
    private readonly tz: string,
  ) {}

  private static id(bearer: string, period: Period, key: string): string {
    return `${bearer}\u0000${period}\u0000${key}`;
  }

  private keyOf(period: Period, nowWall: number): string {
    return period === 'day' ? dayKey(nowWall, this.tz) : monthKey(nowWall, this.tz);
  }

  used(bearer: string, period: Period, nowWall: number): number {
    const key = this.keyOf(period, nowWall);
    const id = UsageLedger.id(bearer, period, key);
    let n = this.counts.get(id);
    if (n === undefined) {
      const row = this.db?.prepare('SELECT bytes FROM schedule_usage WHERE bearer = ? AND period = ? AND key = ?').get(bearer, period, key) as
        | { bytes: number }
        | undefined;
      n = row?.bytes ?? 0;
      this.counts.set(id, n);
    }
    return n;
  }

  add(bearer: string, bytes: number, nowWall: number): void {
    for (const period of ['day', 'month'] as const) {
      const id = UsageLedger.id(bearer, period, this.keyOf(period, nowWall));
      this.counts.set(id, this.used(bearer, period, nowWall) + bytes);
      this.dirty.add(id);
    }
  }

  /** How long until `bytes` fit the budget (0 if now), with the reason; wall-clock ms. */
  waitFor(bearer: string, budget: SimBudget | undefined, bytes: number, nowWall: number): { waitMs: number; reason: string } {
    if (!budget) return { waitMs: 0, reason: '' };
    if (budget.monthlyBytes !== undefined && this.used(bearer, 'month', nowWall) + bytes > budget.monthlyBytes) {
      return { waitMs: startOfNextMonth(nowWall, this.tz) - nowWall, reason: `monthly SIM budget of ${budget.monthlyBytes} bytes on ${bearer} is spent` };
    }
    if (budget.dailyBytes !== undefined && this.used(bearer, 'day', nowWall) + bytes > budget.dailyBytes) {
      return { waitMs: startOfNextDay(nowWall, this.tz) - nowWall, reason: `daily SIM budget of ${budget.dailyBytes} bytes on ${bearer} is spent` };
    }
    return { waitMs: 0, reason: '' };
  }

  flush(): void {
    if (!this.db || this.dirty.size === 0 || !this.db.open) return;
    const stmt = this.db.prepare(
      `INSERT INTO schedule_usage (bearer, period, key, bytes) VALUES (?, ?, ?, ?)
       ON CONFLICT (bearer, period, key) DO UPDATE SET bytes = excluded.bytes`,
    );
    const ids = [...this.dirty];
    this.db.transaction(() => {
      for (const id of ids) {
        const [bearer, period, key] = id.split('\u0000') as [string, Period, string];
        stmt.run(bearer, period, key, this.counts.get(id) ?? 0);
      }
    })();
    this.dirty.clear();
  }
}
