import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Config } from '../config/index.ts';
import { InputError } from '../errors.ts';
import type { BlobStore } from './blob-store.ts';
import type { Db } from '../store/database.ts';
import { ReleaseRepo, type ReleaseRow } from '../store/releases.ts';
import { EspImageError, parseEspImage, type EspImage } from './esp-image.ts';
import { verifyReleaseStatement } from './statement.ts';

export interface AddReleaseInput {
  file: string;
  product: string;
  version: string;
  /** COSE_Sign1 release statement file made by `furrow release sign`. */
  sigFile?: string;
}

export interface AddReleaseResult {
  release: ReleaseRow;
  image: EspImage;
  /** False when the same image was already stored as this product+version (idempotent re-add). */
  created: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export function checkName(kind: 'product' | 'version', value: string): void {
  if (!NAME.test(value)) {
    throw new InputError('RELEASE_BAD_NAME', `${kind} ${JSON.stringify(value)} is not valid: use 1-64 letters, digits, ".", "_", "+" or "-", starting with a letter or digit`);
  }
}

function readImage(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InputError('RELEASE_UNREADABLE', `cannot read image ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Adds a release: parse and verify the ESP image, check the product's chip, check the vendor signature
 * (or that unsigned releases are allowed), store the image content-addressed, then the row.
 * The blob is written before the row, so a crash in between leaves an orphan blob, never a row
 * pointing at nothing.
 */
export function addRelease(
  deps: { db: Db; blobs: BlobStore; config: Config; now: number; /** where the config came from, for errors about its relative paths */ configFile?: string },
  input: AddReleaseInput,
): AddReleaseResult {
  checkName('product', input.product);
  checkName('version', input.version);
  const data = readImage(input.file);
  const image = parseEspImage(data, basename(input.file));
  const repo = new ReleaseRepo(deps.db);

  const expectedChip = deps.config.releases.products[input.product]?.chip ?? repo.list({ product: input.product })[0]?.chip;
  if (expectedChip && expectedChip !== image.chip) {
    throw new EspImageError('chip', `${basename(input.file)} is built for ${image.chip}, but product ${input.product} runs on ${expectedChip}`, 'check that you picked the build for the right board');
  }

  const sameImage = repo.get(image.sha256);
  if (sameImage) {
    if (sameImage.product === input.product && sameImage.version === input.version) return { release: sameImage, image, created: false };
    throw new InputError('RELEASE_DUPLICATE_IMAGE', `this image is already stored as ${sameImage.product} ${sameImage.version} (sha256 ${image.sha256.slice(0, 12)}…)`);
  }
  const sameVersion = repo.byVersion(input.product, input.version);
  if (sameVersion) {
    throw new InputError(
      'RELEASE_VERSION_TAKEN',
      `${input.product} ${input.version} already exists with a different image (sha256 ${sameVersion.sha256.slice(0, 12)}…, this one ${image.sha256.slice(0, 12)}…)`,
      { hint: 'a version names one image forever: give the new build a new version' },
    );
  }

  let signature: Buffer | null = null;
  let signer: string | null = null;
  let secureVersion = image.appDesc.secureVersion;
  if (input.sigFile) {
    const statement = verifyReleaseStatement(readImage(input.sigFile), deps.config.releases.trustedKeys, input.sigFile, deps.configFile);
    const mismatch: string[] = [];
    if (statement.product !== input.product) mismatch.push(`product ${statement.product} ≠ ${input.product}`);
    if (statement.version !== input.version) mismatch.push(`version ${statement.version} ≠ ${input.version}`);
    if (statement.sha256 !== image.sha256) mismatch.push(`sha256 ${statement.sha256.slice(0, 12)}… ≠ image ${image.sha256.slice(0, 12)}…`);
    if (statement.size !== image.size) mismatch.push(`size ${statement.size} ≠ ${image.size}`);
    if (mismatch.length > 0) {
      throw new InputError('RELEASE_SIGNATURE_MISMATCH', `signature ${input.sigFile} was made for another release: ${mismatch.join(', ')}`);
    }
    signature = statement.bytes;
    signer = statement.kid;
    secureVersion = statement.secureVersion;
  } else if (!deps.config.releases.allowUnsigned) {
    throw new InputError('RELEASE_UNSIGNED', `${input.product} ${input.version} has no signature and this gateway refuses unsigned releases`, {
      hint: 'sign it offline with `furrow release sign` and pass --sig, or set releases.allowUnsigned: true (demo only)',
    });
  }

  deps.blobs.put(data);
  const release: ReleaseRow = {
    sha256: image.sha256,
    product: input.product,
    version: input.version,
    secureVersion,
    size: image.size,
    chip: image.chip,
    appVersion: image.appDesc.version,
    projectName: image.appDesc.projectName,
    idfVersion: image.appDesc.idfVersion,
    buildDate: `${image.appDesc.date} ${image.appDesc.time}`.trim(),
    signature,
    signer,
    addedAt: deps.now,
  };
  repo.insert(release);
  return { release, image, created: true };
}
