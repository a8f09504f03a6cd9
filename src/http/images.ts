/**
 * The digests a stock device reports of the image it runs, per release: MD5 of the image file
 * (Arduino `ESP.getSketchMD5()`, x-ESP32-sketch-md5; HTTPUpdate's x-MD5 of the offer), and the
 * digest `esp_partition_get_sha256()` returns for a running app partition (x-ESP32-sketch-sha256, the
 * `sha256` an esp_https_ota device sends): the appended SHA-256 when the image carries one (the file's
 * last 32 bytes), else the SHA-256 of the file, which is the release id.
 */
import { createHash } from 'node:crypto';
import { partitionDigest } from '../delta/detools/esp-delta-ota.ts';
import type { BlobStore } from '../release/blob-store.ts';
import type { ReleaseRepo, ReleaseRow } from '../store/releases.ts';

export interface ImageDigests {
  sha256: string;
  md5: string;
  partitionSha256: string;
}

/** What a device says it runs; any of these may be absent. */
export interface RunningClaim {
  md5?: string | undefined;
  sha256?: string | undefined;
  version?: string | undefined;
}

export class ImageIndex {
  /** Digests never change for a content-addressed blob: computed once per release. */
  private readonly cache = new Map<string, ImageDigests>();

  constructor(
    private readonly releases: ReleaseRepo,
    private readonly blobs: BlobStore,
  ) {}

  digests(sha256: string): ImageDigests {
    let d = this.cache.get(sha256);
    if (d) return d;
    const bytes = this.blobs.get(sha256);
    d = { sha256, md5: createHash('md5').update(bytes).digest('hex'), partitionSha256: partitionDigest(bytes).toString('hex') };
    this.cache.set(sha256, d);
    return d;
  }

  /**
   * The release of `product` a device runs, by the strongest claim it made (SHA-256, then MD5, then
   * version string); undefined when the image is not in the store.
   */
  find(product: string, claim: RunningClaim): ReleaseRow | undefined {
    const rows = this.releases.list({ product });
    const sha = claim.sha256?.toLowerCase();
    const md5 = claim.md5?.toLowerCase();
    if (sha) return rows.find((r) => r.sha256 === sha || this.safeDigests(r)?.partitionSha256 === sha);
    if (md5) return rows.find((r) => this.safeDigests(r)?.md5 === md5);
    if (claim.version) return rows.find((r) => r.version === claim.version || r.appVersion === claim.version);
    return undefined;
  }

  private safeDigests(r: ReleaseRow): ImageDigests | undefined {
    try {
      return this.digests(r.sha256);
    } catch {
      return undefined; // a release whose blob is missing cannot be what a device runs from us
    }
  }
}
