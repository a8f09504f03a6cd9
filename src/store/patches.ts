import type { Db } from './database.ts';

/**
 * One row of `patches` (migrations 010, 070): what to serve a device on `fromSha256` that should run
 * `toSha256` and decodes patch formats up to `formatCap`.
 */
export interface PatchRow {
  id: string;
  /** Base image; '' for the stand-alone full image of `toSha256`. */
  fromSha256: string;
  toSha256: string;
  /** Highest patch format the build was allowed to use; `formatVersion` is what it produced (<= this). */
  formatCap: number;
  kind: 'delta' | 'full';
  size: number;
  formatVersion: number;
  createdAt: number;
  deltaSize: number | null;
  fullSize: number | null;
  tableDigest: string | null;
  chunkCount: number | null;
  buildMs: number | null;
}

interface RawPatch {
  id: string;
  from_sha256: string;
  to_sha256: string;
  format_cap: number;
  kind: 'delta' | 'full';
  size: number;
  format_version: number;
  created_at: number;
  delta_size: number | null;
  full_size: number | null;
  table_digest: string | null;
  chunk_count: number | null;
  build_ms: number | null;
}

function toRow(r: RawPatch): PatchRow {
  return {
    id: r.id,
    fromSha256: r.from_sha256,
    toSha256: r.to_sha256,
    formatCap: r.format_cap,
    kind: r.kind,
    size: r.size,
    formatVersion: r.format_version,
    createdAt: r.created_at,
    deltaSize: r.delta_size,
    fullSize: r.full_size,
    tableDigest: r.table_digest,
    chunkCount: r.chunk_count,
    buildMs: r.build_ms,
  };
}

/** A patch row joined with the versions it connects, for `furrow delta list`. */
export interface PatchListRow extends PatchRow {
  product: string;
  fromVersion: string | null;
  toVersion: string;
  toSize: number;
}

export class PatchRepo {
  constructor(private readonly db: Db) {}

  /** Inserts or replaces the route (from, to, format cap): a rebuild supersedes the old choice. */
  put(r: PatchRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO patches (id, from_sha256, to_sha256, format_cap, kind, size, format_version, created_at, delta_size, full_size, table_digest, chunk_count, build_ms)
         VALUES (@id, @fromSha256, @toSha256, @formatCap, @kind, @size, @formatVersion, @createdAt, @deltaSize, @fullSize, @tableDigest, @chunkCount, @buildMs)`,
      )
      .run(r);
  }

  /** The patch built for devices that decode formats up to `formatCap`. */
  get(fromSha256: string, toSha256: string, formatCap: number): PatchRow | undefined {
    const r = this.db.prepare('SELECT * FROM patches WHERE from_sha256 = ? AND to_sha256 = ? AND format_cap = ?').get(fromSha256, toSha256, formatCap) as RawPatch | undefined;
    return r ? toRow(r) : undefined;
  }

  /**
   * What to serve a device that decodes formats up to `formatCap`: the patch `heldId` the device already
   * has (part of) if it is one of this move's, else the row built for the highest cap not above it (a
   * v1 patch serves a v2 device until a v2 build exists).
   */
  best(fromSha256: string, toSha256: string, formatCap: number, heldId = ''): PatchRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM patches WHERE from_sha256 = ? AND to_sha256 = ? AND format_cap <= ? ORDER BY id = ? DESC, format_cap DESC LIMIT 1')
      .get(fromSha256, toSha256, formatCap, heldId) as RawPatch | undefined;
    return r ? toRow(r) : undefined;
  }

  /** The stand-alone full-image patch of a release (a full image is a v1 patch, readable by every device). */
  full(toSha256: string): PatchRow | undefined {
    return this.get('', toSha256, 1);
  }

  list(filter: { product?: string } = {}): PatchListRow[] {
    const sql = `SELECT p.*, t.product AS product, t.version AS to_version, t.size AS to_size, f.version AS from_version
                 FROM patches p JOIN releases t ON t.sha256 = p.to_sha256 LEFT JOIN releases f ON f.sha256 = p.from_sha256
                 ${filter.product ? 'WHERE t.product = ?' : ''} ORDER BY t.product, t.added_at, p.from_sha256, p.format_cap`;
    const rows = (filter.product ? this.db.prepare(sql).all(filter.product) : this.db.prepare(sql).all()) as Array<
      RawPatch & { product: string; to_version: string; to_size: number; from_version: string | null }
    >;
    return rows.map((r) => ({ ...toRow(r), product: r.product, fromVersion: r.from_version, toVersion: r.to_version, toSize: r.to_size }));
  }
}
