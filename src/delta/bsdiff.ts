/**
 * Runs bsdiff-node (native, on a libuv worker thread, so the event loop keeps serving) on temp files
 * and reads the control block of its BSDIFF40 output. Only the control triples are needed: the diff
 * and extra bytes follow from the two images, so the bzip2 diff/extra blocks are never decoded.
 *
 * BSDIFF40: "BSDIFF40", ctrl_len (offtin), diff_len (offtin), new_size (offtin), then three bzip2
 * blocks. offtin = 8 bytes little-endian magnitude, sign in the top bit of the last byte.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FurrowError } from '../errors.ts';
import { normalizeMatches, type Match } from './matches.ts';
import { runFilter } from './xz.ts';

const require = createRequire(import.meta.url);

export function readOfftin(b: Uint8Array, at: number): number {
  let v = b[at + 7]! & 0x7f;
  for (let i = 6; i >= 0; i--) v = v * 256 + b[at + i]!;
  return (b[at + 7]! & 0x80) !== 0 ? -v : v;
}

export interface Bsdiff40 {
  newSize: number;
  control: Array<[number, number, number]>;
}

/** Parses a BSDIFF40 patch's header and control block (bzip2 via the `bzip2` binary). */
export async function parseBsdiff40(patch: Uint8Array): Promise<Bsdiff40> {
  if (patch.length < 32 || Buffer.from(patch.subarray(0, 8)).toString('latin1') !== 'BSDIFF40') {
    throw new FurrowError('DELTA_BSDIFF_FORMAT', 'bsdiff output is not a BSDIFF40 patch');
  }
  const ctrlLen = readOfftin(patch, 8);
  const diffLen = readOfftin(patch, 16);
  const newSize = readOfftin(patch, 24);
  if (ctrlLen < 0 || diffLen < 0 || newSize < 0 || 32 + ctrlLen + diffLen > patch.length) {
    throw new FurrowError('DELTA_BSDIFF_FORMAT', `BSDIFF40 header is inconsistent (ctrl ${ctrlLen}, diff ${diffLen}, file ${patch.length})`);
  }
  const ctrl = await runFilter('bzip2', ['-dc'], patch.subarray(32, 32 + ctrlLen), 'bzip2');
  if (ctrl.length % 24 !== 0) throw new FurrowError('DELTA_BSDIFF_FORMAT', `BSDIFF40 control block is ${ctrl.length} bytes, not a multiple of 24`);
  const control: Array<[number, number, number]> = [];
  for (let at = 0; at < ctrl.length; at += 24) control.push([readOfftin(ctrl, at), readOfftin(ctrl, at + 8), readOfftin(ctrl, at + 16)]);
  return { newSize, control };
}

/** bsdiff's control triples → matches (diff runs), clipped to both images. */
export function controlToMatches(control: Array<[number, number, number]>, oldSize: number, newSize: number): Match[] {
  const ms: Match[] = [];
  let np = 0;
  let opos = 0;
  for (const [x, y, z] of control) {
    if (x > 0) ms.push({ newStart: np, oldStart: opos, len: x });
    np += x + y;
    opos += x + z;
  }
  return normalizeMatches(ms, oldSize, newSize);
}

/** Diffs two images with bsdiff-node and returns its matches. Temp files are always removed. */
export async function bsdiffMatches(oldImg: Uint8Array, newImg: Uint8Array): Promise<Match[]> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-bsdiff-'));
  try {
    const oldFile = join(dir, 'old.bin');
    const newFile = join(dir, 'new.bin');
    const patchFile = join(dir, 'patch.bsdiff');
    writeFileSync(oldFile, oldImg);
    writeFileSync(newFile, newImg);
    const bsdiff = require('bsdiff-node') as typeof import('bsdiff-node');
    await bsdiff.diff(oldFile, newFile, patchFile);
    const parsed = await parseBsdiff40(readFileSync(patchFile));
    if (parsed.newSize !== newImg.length) throw new FurrowError('DELTA_BSDIFF_FORMAT', `bsdiff says the new image has ${parsed.newSize} bytes, it has ${newImg.length}`);
    return controlToMatches(parsed.control, oldImg.length, newImg.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
