import type { Db } from './database.ts';

export interface ReleaseRow {
  sha256: string;
  product: string;
  version: string;
  secureVersion: number;
  size: number;
  chip: string;
  appVersion: string | null;
  projectName: string | null;
  idfVersion: string | null;
  buildDate: string | null;
  /** COSE_Sign1 release statement bytes (src/manifest/MANIFEST.md); null when unsigned. */
  signature: Buffer | null;
  signer: string | null;
  addedAt: number;
}

interface RawRelease {
  sha256: string;
  product: string;
  version: string;
  secure_version: number;
  size: number;
  chip: string;
  app_version: string | null;
  project_name: string | null;
  idf_version: string | null;
  build_date: string | null;
  signature: Buffer | null;
  signer: string | null;
  added_at: number;
}

function toRow(r: RawRelease): ReleaseRow {
  return {
    sha256: r.sha256,
    product: r.product,
    version: r.version,
    secureVersion: r.secure_version,
    size: r.size,
    chip: r.chip,
    appVersion: r.app_version,
    projectName: r.project_name,
    idfVersion: r.idf_version,
    buildDate: r.build_date,
    signature: r.signature,
    signer: r.signer,
    addedAt: r.added_at,
  };
}

export class ReleaseRepo {
  constructor(private readonly db: Db) {}

  insert(r: ReleaseRow): void {
    this.db
      .prepare(
        `INSERT INTO releases (sha256, product, version, secure_version, size, chip, app_version, project_name, idf_version, build_date, signature, signer, added_at)
         VALUES (@sha256, @product, @version, @secureVersion, @size, @chip, @appVersion, @projectName, @idfVersion, @buildDate, @signature, @signer, @addedAt)`,
      )
      .run(r);
  }

  get(sha256: string): ReleaseRow | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE sha256 = ?').get(sha256) as RawRelease | undefined;
    return r ? toRow(r) : undefined;
  }

  byVersion(product: string, version: string): ReleaseRow | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE product = ? AND version = ?').get(product, version) as RawRelease | undefined;
    return r ? toRow(r) : undefined;
  }

  /** Releases oldest first (by when they were added), optionally of one product. */
  list(filter: { product?: string } = {}): ReleaseRow[] {
    const rows = filter.product
      ? this.db.prepare('SELECT * FROM releases WHERE product = ? ORDER BY added_at, rowid').all(filter.product)
      : this.db.prepare('SELECT * FROM releases ORDER BY product, added_at, rowid').all();
    return (rows as RawRelease[]).map(toRow);
  }

  /** The most recently added release of a product. */
  latest(product: string): ReleaseRow | undefined {
    const r = this.db.prepare('SELECT * FROM releases WHERE product = ? ORDER BY added_at DESC, rowid DESC LIMIT 1').get(product) as
      | RawRelease
      | undefined;
    return r ? toRow(r) : undefined;
  }
}
