/**
 * What a stock LwM2M client downloads from /5/0/1: the release's full signed image ('image'), or for
 * AVSystem's demo client that image behind the demo's own 16-byte header ('anjay-demo': "ANJAY_FW",
 * version 1, force-error case, CRC-32 of the image; anjay demo/firmware_update.h). The demo strips the
 * header after download, so the file it keeps is the image byte for byte.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export type PackageKind = 'image' | 'anjay-demo';

/**
 * Force-error case 5 (FORCE_SET_SUCCESS_FROM_PERFORM_UPGRADE): the demo reports Update Result 1 instead of
 * execv()ing the downloaded file, which for an ESP32 image could only fail with ENOEXEC.
 */
const ANJAY_DEMO_REPORT_SUCCESS = 5;

export function buildPackage(kind: PackageKind, image: Buffer): Buffer {
  if (kind === 'image') return image;
  const h = Buffer.alloc(16);
  h.write('ANJAY_FW', 0, 'latin1');
  h.writeUInt16BE(1, 8);
  h.writeUInt16BE(ANJAY_DEMO_REPORT_SUCCESS, 10);
  // The demo's table-driven CRC (demo_utils.c) is the ordinary CRC-32 (zlib's) in another formulation.
  h.writeUInt32BE(crc32(image) >>> 0, 12);
  return Buffer.concat([h, image]);
}

/** Strong ETag (RFC 7252 §5.10.6): the first 8 bytes of the package's SHA-256, the same after a restart. */
export function packageEtag(pkg: Buffer): Buffer {
  return createHash('sha256').update(pkg).digest().subarray(0, 8);
}

