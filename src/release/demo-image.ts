import { createHash } from 'node:crypto';
import { ESP_APP_DESC_MAGIC, ESP_IMAGE_MAGIC } from './esp-image.ts';

/**
 * Small, valid ESP32 application images for trying furrow without an ESP-IDF build (`furrow demo
 * image`, README walkthrough). They pass every check `furrow release add` and the device's bootloader
 * model make (header, segments, XOR checksum, appended SHA-256, esp_app_desc_t), but hold no code that
 * runs. The bytes come from a PRNG seeded by the product, and each version changes a few places of
 * that base, so two versions of one product differ like two builds of one app: their patch is small.
 */

export interface DemoImageOptions {
  product: string;
  version: string;
  /** Total bytes of code and data, rounded to 16 (default 64 KiB). */
  size?: number;
  /** esp_app_desc_t.secure_version (anti-rollback counter), default 0. */
  secureVersion?: number;
}

const DROM = 0x3f400020;
const IROM = 0x400d0020;
const APP_DESC_SIZE = 256;
export const DEMO_IMAGE_MIN_SIZE = 4096;
export const DEMO_IMAGE_MAX_SIZE = 1024 * 1024;

/** Counter-mode SHA-256: the same seed gives the same bytes on every machine. */
function stream(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0, block = 0; i < length; i += 32, block++) {
    createHash('sha256').update(`${seed}/${block}`).digest().copy(out, i);
  }
  return out;
}

function cString(buf: Buffer, offset: number, length: number, text: string): void {
  buf.write(text.slice(0, length - 1), offset, 'latin1');
}

function appDesc(o: Required<DemoImageOptions>): Buffer {
  const d = Buffer.alloc(APP_DESC_SIZE);
  d.writeUInt32LE(ESP_APP_DESC_MAGIC, 0);
  d.writeUInt32LE(o.secureVersion, 4);
  cString(d, 16, 32, o.version);
  cString(d, 48, 32, o.product);
  // Fixed build time: the same options always give the same image (and sha256).
  cString(d, 80, 16, '00:00:00');
  cString(d, 96, 16, 'Jan  1 2026');
  cString(d, 112, 32, 'v5.3-furrow-demo');
  createHash('sha256').update(`elf/${o.product}/${o.version}`).digest().copy(d, 144);
  return d;
}

/** The product's code, with this version's edits: a few overwritten words and one inserted run. */
function code(o: Required<DemoImageOptions>, length: number): Buffer {
  const base = stream(`furrow-demo/${o.product}`, length);
  const edits = createHash('sha256').update(`furrow-demo/${o.product}/${o.version}`).digest();
  for (let i = 0; i < 8; i++) {
    const at = (edits.readUInt16LE(2 * i) * 4) % (length - 8);
    edits.copy(base, at, 16 + i, 20 + i);
  }
  const insertAt = (edits.readUInt32LE(24) % (length - 128)) & ~3;
  const inserted = Buffer.concat([base.subarray(0, insertAt), stream(`furrow-demo/${o.product}/${o.version}/new`, 96), base.subarray(insertAt)]);
  return inserted.subarray(0, length);
}

export function demoImage(opts: DemoImageOptions): Buffer {
  const o: Required<DemoImageOptions> = { size: 64 * 1024, secureVersion: 0, ...opts };
  if (!Number.isInteger(o.size) || o.size < DEMO_IMAGE_MIN_SIZE || o.size > DEMO_IMAGE_MAX_SIZE) {
    throw new RangeError(`demo image size ${o.size}: expected ${DEMO_IMAGE_MIN_SIZE}..${DEMO_IMAGE_MAX_SIZE} bytes`);
  }
  const body = o.size & ~15;
  // Segment 0 (flash-mapped data) starts with esp_app_desc_t, as ESP-IDF links it; segment 1 is code.
  const rodata = Buffer.concat([appDesc(o), Buffer.from(`${o.product} ${o.version} furrow demo image\0`, 'latin1')]);
  const drom = Buffer.concat([rodata, Buffer.alloc((16 - (rodata.length % 16)) % 16)]);
  const irom = code(o, body - drom.length);

  const header = Buffer.alloc(24);
  header[0] = ESP_IMAGE_MAGIC;
  header[1] = 2; // segments
  header[2] = 2; // SPI mode DIO
  header[3] = 0x20; // 4 MB flash, 40 MHz
  header.writeUInt32LE(IROM + 0x100, 4); // entry address
  header[8] = 0xee; // WP pin unused
  header.writeUInt16LE(0x0000, 12); // chip id: esp32
  header[23] = 1; // SHA-256 appended

  const parts: Buffer[] = [header];
  let checksum = 0xef;
  for (const [addr, data] of [[DROM, drom], [IROM, irom]] as const) {
    const seg = Buffer.alloc(8);
    seg.writeUInt32LE(addr, 0);
    seg.writeUInt32LE(data.length, 4);
    parts.push(seg, data);
    for (const b of data) checksum ^= b;
  }
  const unpadded = parts.reduce((n, p) => n + p.length, 0);
  // Zero padding so the checksum byte ends a 16-byte block (esp_image_format.h).
  const pad = Buffer.alloc(15 - (unpadded % 16) + 1);
  pad[pad.length - 1] = checksum;
  parts.push(pad);
  const image = Buffer.concat(parts);
  return Buffer.concat([image, createHash('sha256').update(image).digest()]);
}
