/**
 * esp_delta_ota's patch file (espressif/idf-extra-components, esp_delta_ota/examples/https_delta_ota:
 * tools/esp_delta_ota_patch_gen.py writes it, main/main.c checks it): a 64-byte header, then the detools
 * patch.
 *
 *   0..3    magic 0xfccdde10, little-endian
 *   4..35   SHA-256 of the base image as esptool's image_info prints it ("Validation Hash": the digest
 *           appended to the image), which the device compares with esp_partition_get_sha256() of its
 *           running partition before it applies a byte
 *   36..63  reserved, zero
 */
import { createHash } from 'node:crypto';

export const ESP_DELTA_OTA_MAGIC = 0xfccdde10;
export const ESP_DELTA_OTA_HEADER_SIZE = 64;

/**
 * The digest esp_partition_get_sha256() gives for an app image: the appended SHA-256 when there is one
 * (esp_image_header_t.hash_appended, byte 23, and the last 32 bytes are the SHA-256 of what precedes them).
 */
export function partitionDigest(image: Uint8Array): Buffer {
  const appended = image.length > 56 && image[23] === 1 && createHash('sha256').update(image.subarray(0, image.length - 32)).digest().equals(image.subarray(image.length - 32));
  return appended ? Buffer.from(image.subarray(image.length - 32)) : createHash('sha256').update(image).digest();
}

export function wrapEspDeltaOta(base: Uint8Array, detoolsPatch: Uint8Array): Buffer {
  const h = Buffer.alloc(ESP_DELTA_OTA_HEADER_SIZE);
  h.writeUInt32LE(ESP_DELTA_OTA_MAGIC, 0);
  partitionDigest(base).copy(h, 4);
  return Buffer.concat([h, detoolsPatch]);
}

/** The header's parts, or a message naming what is wrong. */
export function readEspDeltaOtaHeader(file: Uint8Array): { baseDigest: string; patch: Buffer } | string {
  if (file.length < ESP_DELTA_OTA_HEADER_SIZE) return `esp_delta_ota patch is ${file.length} bytes, shorter than its 64-byte header`;
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.readUInt32LE(0) !== ESP_DELTA_OTA_MAGIC) return `esp_delta_ota magic is 0x${b.readUInt32LE(0).toString(16)}, not 0xfccdde10`;
  return { baseDigest: b.subarray(4, 36).toString('hex'), patch: b.subarray(ESP_DELTA_OTA_HEADER_SIZE) };
}
