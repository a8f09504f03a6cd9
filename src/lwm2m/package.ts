/**
 * What a stock LwM2M client downloads from /5/0/1: the release's full signed image ('image'), or for
 * AVSystem's demo client that image behind the demo's own 16-byte header ('anjay-demo': "ANJAY_FW",
 * version 1, force-error case, CRC-32 of the image; anjay demo/firmware_update.h). The demo strips the
 * header after download, so the file it keeps is the image byte for byte.
 */
import { createHash } from 'node:crypto';

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
  h.writeUInt32BE(anjayDemoCrc32(image), 12);
  return Buffer.concat([h, image]);
}

/** Strong ETag (RFC 7252 §5.10.6): the first 8 bytes of the package's SHA-256, the same after a restart. */
export function packageEtag(pkg: Buffer): Buffer {
  return createHash('sha256').update(pkg).digest().subarray(0, 8);
}

let table: Uint32Array | undefined;

/**
 * The demo's own CRC-32 (demo_utils.c, "adapted from bjorn/crc"): NOT zlib's. Its table entry shifts in the
 * polynomial when the low bit is 0 (the reverse of the usual test) and XORs 0xFF000000; start value 0, no
 * final XOR. A zlib CRC in the header makes the demo report Update Result 5 (integrity check failure).
 */
export function anjayDemoCrc32(data: Buffer): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let r = i;
      for (let k = 0; k < 8; k++) r = r & 1 ? r >>> 1 : (r >>> 1) ^ 0xedb88320;
      table[i] = (r ^ 0xff000000) >>> 0;
    }
  }
  let crc = 0;
  for (const b of data) crc = (table[(b ^ crc) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return crc;
}
