import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';

/**
 * ESP-IDF application image parser (esp_image_format.h, esp_app_format.h):
 * 24-byte esp_image_header_t, segments of (load_addr u32, data_len u32, data), zero padding with an
 * XOR checksum byte at the end of the 16-byte-aligned block, then the SHA-256 of everything before it
 * when hash_appended is set. esp_app_desc_t starts the first segment's data.
 */

export const ESP_IMAGE_MAGIC = 0xe9;
export const ESP_APP_DESC_MAGIC = 0xabcd5432;
const HEADER_SIZE = 24;
const SEGMENT_HEADER_SIZE = 8;
const MAX_SEGMENTS = 16;
const CHECKSUM_SEED = 0xef;

/** esp_chip_id_t values (esp_app_format.h). */
export const CHIP_IDS: Record<number, string> = {
  0x0000: 'esp32',
  0x0002: 'esp32s2',
  0x0005: 'esp32c3',
  0x0009: 'esp32s3',
  0x000c: 'esp32c2',
  0x000d: 'esp32c6',
  0x0010: 'esp32h2',
  0x0012: 'esp32p4',
  0x0014: 'esp32c61',
  0x0017: 'esp32c5',
};

export interface EspSegment {
  index: number;
  loadAddr: number;
  /** Offset of the segment's data in the file. */
  offset: number;
  length: number;
}

export interface EspAppDesc {
  secureVersion: number;
  version: string;
  projectName: string;
  time: string;
  date: string;
  idfVersion: string;
  elfSha256: string;
}

export interface EspImage {
  chip: string;
  chipId: number;
  entryAddr: number;
  segments: EspSegment[];
  hashAppended: boolean;
  /** SHA-256 of the whole file (its content address). */
  sha256: string;
  size: number;
  appDesc: EspAppDesc;
}

export type EspImageCheck =
  | 'truncated'
  | 'magic'
  | 'segment-count'
  | 'segment-bounds'
  | 'checksum'
  | 'sha256'
  | 'app-desc'
  | 'chip'
  | 'trailing-data';

/** Names the check that failed, so the operator knows whether the file is cut, foreign or tampered. */
export class EspImageError extends InputError {
  constructor(
    readonly check: EspImageCheck,
    message: string,
    hint?: string,
  ) {
    super(`IMAGE_${check.toUpperCase().replace('-', '_')}`, message, hint ? { hint } : {});
  }
}

function cString(buf: Buffer, offset: number, length: number): string {
  const slice = buf.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end === -1 ? slice.length : end).toString('latin1');
}

export function parseEspImage(buf: Buffer, name = 'image'): EspImage {
  if (buf.length < HEADER_SIZE) {
    throw new EspImageError('truncated', `${name}: ${buf.length} bytes is shorter than the 24-byte ESP image header`, 'the file is cut short; copy it again');
  }
  if (buf[0] !== ESP_IMAGE_MAGIC) {
    throw new EspImageError(
      'magic',
      `${name}: not an ESP application image (first byte 0x${buf[0]!.toString(16).padStart(2, '0')}, expected 0xe9)`,
      'pass the app image that goes to an ota_N partition (e.g. build/<app>.bin), not factory.bin, an .elf or a merged flash image',
    );
  }
  const segmentCount = buf[1]!;
  if (segmentCount === 0 || segmentCount > MAX_SEGMENTS) {
    throw new EspImageError('segment-count', `${name}: header declares ${segmentCount} segments (expected 1..${MAX_SEGMENTS})`);
  }
  const entryAddr = buf.readUInt32LE(4);
  const chipId = buf.readUInt16LE(12);
  const hashAppended = buf[23] === 1;

  const segments: EspSegment[] = [];
  let pos = HEADER_SIZE;
  let checksum = CHECKSUM_SEED;
  for (let i = 0; i < segmentCount; i++) {
    if (pos + SEGMENT_HEADER_SIZE > buf.length) {
      throw new EspImageError('truncated', `${name}: file ends inside the header of segment ${i} at offset ${pos}`, 'the file is cut short; copy it again');
    }
    const loadAddr = buf.readUInt32LE(pos);
    const length = buf.readUInt32LE(pos + 4);
    const offset = pos + SEGMENT_HEADER_SIZE;
    if (length > buf.length - offset) {
      throw new EspImageError(
        buf.length - offset < length ? 'truncated' : 'segment-bounds',
        `${name}: segment ${i} (load 0x${loadAddr.toString(16)}) needs ${length} bytes at offset ${offset}, file has ${buf.length - offset}`,
        'the file is cut short; copy it again',
      );
    }
    for (let j = offset; j < offset + length; j++) checksum ^= buf[j]!;
    segments.push({ index: i, loadAddr, offset, length });
    pos = offset + length;
  }
  // Padding to a 16-byte boundary with the checksum as the last byte of that block.
  const checksumPos = pos + (15 - (pos % 16));
  if (checksumPos >= buf.length) {
    throw new EspImageError('truncated', `${name}: file ends before the checksum byte at offset ${checksumPos}`, 'the file is cut short; copy it again');
  }
  if (buf[checksumPos] !== checksum) {
    throw new EspImageError(
      'checksum',
      `${name}: segment checksum is 0x${buf[checksumPos]!.toString(16)} but the segments XOR to 0x${checksum.toString(16)}`,
      'the image was modified after it was built; use the original build output',
    );
  }
  let end = checksumPos + 1;
  if (hashAppended) {
    if (end + 32 > buf.length) {
      throw new EspImageError('truncated', `${name}: file ends before the appended SHA-256 at offset ${end}`, 'the file is cut short; copy it again');
    }
    const expected = buf.subarray(end, end + 32);
    const actual = createHash('sha256').update(buf.subarray(0, end)).digest();
    if (!actual.equals(expected)) {
      throw new EspImageError(
        'sha256',
        `${name}: appended SHA-256 ${expected.toString('hex').slice(0, 16)}… does not match the image contents (${actual.toString('hex').slice(0, 16)}…)`,
        'the image was modified or damaged after it was built; use the original build output',
      );
    }
    end += 32;
  }
  if (end !== buf.length) {
    throw new EspImageError('trailing-data', `${name}: ${buf.length - end} unexpected bytes after the image end at offset ${end}`, 'pass the app image alone, not a merged or padded flash dump');
  }

  const chip = CHIP_IDS[chipId];
  if (!chip) throw new EspImageError('chip', `${name}: unknown chip id 0x${chipId.toString(16)} in the image header`);

  const first = segments[0]!;
  if (first.length < 256 || buf.readUInt32LE(first.offset) !== ESP_APP_DESC_MAGIC) {
    throw new EspImageError(
      'app-desc',
      `${name}: no esp_app_desc_t (magic 0xabcd5432) at the start of the first segment (offset ${first.offset})`,
      'this looks like a bootloader or a non-application image',
    );
  }
  const d = first.offset;
  const appDesc: EspAppDesc = {
    secureVersion: buf.readUInt32LE(d + 4),
    version: cString(buf, d + 16, 32),
    projectName: cString(buf, d + 48, 32),
    time: cString(buf, d + 80, 16),
    date: cString(buf, d + 96, 16),
    idfVersion: cString(buf, d + 112, 32),
    elfSha256: buf.subarray(d + 144, d + 176).toString('hex'),
  };

  return {
    chip,
    chipId,
    entryAddr,
    segments,
    hashAppended,
    sha256: createHash('sha256').update(buf).digest('hex'),
    size: buf.length,
    appDesc,
  };
}
