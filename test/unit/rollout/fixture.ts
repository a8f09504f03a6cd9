import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../../src/clock.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';
import { DeviceRepo } from '../../../src/store/devices.ts';
import { ReleaseRepo } from '../../../src/store/releases.ts';

export const shaOf = (s: string) => createHash('sha256').update(s).digest('hex');

export interface Fleet {
  db: Db;
  dir: string;
  v1: string;
  v2: string;
  ids: string[];
  clock: Clock & { advance(ms: number): void };
  write(name: string, yaml: string): string;
  /** Closes the database and removes the fleet's temp dir. */
  close(): void;
}

/** A real SQLite file with product soil-probe, releases 1.0.0 and 2.0.0, and `n` devices on 1.0.0. */
export function fleet(n: number, opts: { labels?: (i: number) => Record<string, string>; bearer?: string } = {}): Fleet {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-rollout-'));
  const db = openDatabase(join(dir, 'furrow.db'), { skipIntegrityCheck: true });
  const releases = new ReleaseRepo(db);
  const v1 = shaOf('v1');
  const v2 = shaOf('v2');
  for (const [sha, version, at] of [[v1, '1.0.0', 1], [v2, '2.0.0', 2]] as const) {
    releases.insert({ sha256: sha, product: 'soil-probe', version, secureVersion: 0, size: 400_000, chip: 'esp32', appVersion: null, projectName: null, idfVersion: null, buildDate: null, signature: null, signer: null, addedAt: at });
  }
  const devices = new DeviceRepo(db);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `probe-${String(i).padStart(4, '0')}`;
    ids.push(id);
    devices.add({ id, product: 'soil-probe', labels: opts.labels?.(i) ?? { farm: i % 2 ? 'north' : 'south' }, runningSha256: v1, hwRev: i % 3 ? 'B' : 'A' }, 0);
    devices.recordCheckin(id, { runningSha256: v1, runningVersion: '1.0.0', bearer: opts.bearer ?? 'udp', rsrp: -95 }, 0);
  }
  let wall = Date.parse('2026-11-25T10:00:00Z');
  let mono = 1_000;
  const clock = {
    now: () => wall,
    monotonic: () => mono,
    advance(ms: number) {
      wall += ms;
      mono += ms;
    },
  };
  return {
    db,
    dir,
    v1,
    v2,
    ids,
    clock,
    write(name, yaml) {
      const f = join(dir, name);
      writeFileSync(f, yaml);
      return f;
    },
    close() {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
