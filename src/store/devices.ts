import type { Db } from './database.ts';

export interface DeviceRow {
  id: string;
  product: string;
  hwRev: string | null;
  labels: Record<string, string>;
  runningSha256: string | null;
  runningVersion: string | null;
  bootSlot: number | null;
  lastResult: string | null;
  rsrp: number | null;
  snr: number | null;
  battery: number | null;
  bearer: string | null;
  createdAt: number;
  lastSeenAt: number | null;
  /** 'furrow' (the C component) or 'lwm2m' (a stock LwM2M client, src/lwm2m/). */
  protocol: string;
}

interface RawDevice {
  id: string;
  product: string;
  hw_rev: string | null;
  labels: string;
  running_sha256: string | null;
  running_version: string | null;
  boot_slot: number | null;
  last_result: string | null;
  rsrp: number | null;
  snr: number | null;
  battery: number | null;
  bearer: string | null;
  created_at: number;
  last_seen_at: number | null;
  protocol: string;
}

const COLUMNS = `id, product, hw_rev, labels, running_sha256, running_version, boot_slot, last_result, rsrp, snr, battery, bearer, created_at, last_seen_at, protocol`;

function toRow(r: RawDevice): DeviceRow {
  let labels: Record<string, string> = {};
  try {
    labels = JSON.parse(r.labels) as Record<string, string>;
  } catch {
    /* a damaged labels cell must not hide the device */
  }
  return {
    id: r.id,
    product: r.product,
    hwRev: r.hw_rev,
    labels,
    runningSha256: r.running_sha256,
    runningVersion: r.running_version,
    bootSlot: r.boot_slot,
    lastResult: r.last_result,
    rsrp: r.rsrp,
    snr: r.snr,
    battery: r.battery,
    bearer: r.bearer,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    protocol: r.protocol,
  };
}

export interface NewDevice {
  id: string;
  product: string;
  hwRev?: string;
  labels?: Record<string, string>;
  deviceKey?: Buffer;
  runningSha256?: string;
  protocol?: 'furrow' | 'lwm2m';
}

/** The fleet: who the devices are and what they last told us. Keys are read separately (identity). */
export class DeviceRepo {
  constructor(private readonly db: Db) {}

  add(d: NewDevice, now: number): void {
    this.db
      .prepare(
        `INSERT INTO devices (id, product, hw_rev, labels, device_key, running_sha256, created_at, protocol)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(d.id, d.product, d.hwRev ?? null, JSON.stringify(d.labels ?? {}), d.deviceKey ?? null, d.runningSha256 ?? null, now, d.protocol ?? 'furrow');
  }

  get(id: string): DeviceRow | undefined {
    const r = this.db.prepare(`SELECT ${COLUMNS} FROM devices WHERE id = ?`).get(id) as RawDevice | undefined;
    return r ? toRow(r) : undefined;
  }

  list(filter: { product?: string } = {}): DeviceRow[] {
    const rows = filter.product
      ? this.db.prepare(`SELECT ${COLUMNS} FROM devices WHERE product = ? ORDER BY id`).all(filter.product)
      : this.db.prepare(`SELECT ${COLUMNS} FROM devices ORDER BY id`).all();
    return (rows as RawDevice[]).map(toRow);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
  }

  /** Distinct (running image, highest patch format its firmware decodes) pairs of a product's fleet. */
  runningImageFormats(product: string): Array<{ sha256: string; patchFormat: number }> {
    return this.db
      .prepare('SELECT DISTINCT running_sha256 AS sha256, patch_format AS patchFormat FROM devices WHERE product = ? AND running_sha256 IS NOT NULL')
      .all(product) as Array<{ sha256: string; patchFormat: number }>;
  }

  /** Lowest patch format any of these devices decodes (1 when none is known): what one shared patch may use. */
  lowestPatchFormat(ids: string[]): number {
    let low = Number.POSITIVE_INFINITY;
    const q = this.db.prepare('SELECT patch_format AS f FROM devices WHERE id = ?');
    for (const id of ids) low = Math.min(low, (q.get(id) as { f: number } | undefined)?.f ?? 1);
    return Number.isFinite(low) ? low : 1;
  }

  key(id: string): { key: Buffer | null; lastCounter: number } | undefined {
    const r = this.db.prepare('SELECT device_key, last_counter FROM devices WHERE id = ?').get(id) as
      | { device_key: Buffer | null; last_counter: number }
      | undefined;
    return r ? { key: r.device_key, lastCounter: r.last_counter } : undefined;
  }

  /** Accepts a request counter only if it is above the last one (replay defence); atomic. */
  advanceCounter(id: string, counter: number): boolean {
    return this.db.prepare('UPDATE devices SET last_counter = ? WHERE id = ? AND last_counter < ?').run(counter, id, counter).changes === 1;
  }

  recordCheckin(
    id: string,
    facts: {
      runningSha256: string;
      runningVersion?: string | null;
      bootSlot?: number | null;
      lastResult?: string | null;
      rsrp?: number | null;
      snr?: number | null;
      battery?: number | null;
      bearer?: string | null;
      /** Check-in key 10; a check-in without it comes from firmware that decodes format 1 only. */
      patchFormat?: number;
    },
    now: number,
  ): void {
    this.db
      .prepare(
        `UPDATE devices SET running_sha256 = ?, running_version = coalesce(?, running_version), boot_slot = coalesce(?, boot_slot),
           last_result = coalesce(?, last_result), rsrp = ?, snr = ?, battery = ?, bearer = coalesce(?, bearer), patch_format = ?, last_seen_at = ?
         WHERE id = ?`,
      )
      .run(
        facts.runningSha256,
        facts.runningVersion ?? null,
        facts.bootSlot ?? null,
        facts.lastResult ?? null,
        facts.rsrp ?? null,
        facts.snr ?? null,
        facts.battery ?? null,
        facts.bearer ?? null,
        facts.patchFormat ?? 1,
        now,
        id,
      );
  }

  setLastResult(id: string, result: string, now: number): void {
    this.db.prepare('UPDATE devices SET last_result = ?, last_seen_at = ? WHERE id = ?').run(result, now, id);
  }

  remove(id: string): boolean {
    return this.db.prepare('DELETE FROM devices WHERE id = ?').run(id).changes === 1;
  }
}
