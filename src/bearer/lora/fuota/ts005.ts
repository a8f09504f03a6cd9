import { createCipheriv, createDecipheriv } from 'node:crypto';

/**
 * LoRaWAN Remote Multicast Setup, TS005-1.0.0 (default FPort 200): the messages a FUOTA session needs to
 * put devices into a Class C multicast group. Little-endian fields; McAddr is a DevAddr (u32).
 */
export const TS005_DEFAULT_FPORT = 200;

export const Ts005Cid = {
  PackageVersion: 0x00,
  McGroupStatus: 0x01,
  McGroupSetup: 0x02,
  McGroupDelete: 0x03,
  McClassCSession: 0x04,
} as const;

export class Ts005Error extends Error {}

/** GPS epoch (1980-01-06T00:00:00Z) in unix seconds; TS005 session times count from it. */
export const GPS_EPOCH_UNIX = 315_964_800;
/** GPS-UTC offset in seconds (leap seconds since 1980; 18 since 2017). */
export const GPS_LEAP_SECONDS = 18;

export function unixToGpsSeconds(unixMs: number): number {
  return (Math.floor(unixMs / 1000) - GPS_EPOCH_UNIX + GPS_LEAP_SECONDS) >>> 0;
}

export interface McGroupSetupReq {
  mcGroupId: number;
  mcAddr: number;
  mcKeyEncrypted: Buffer;
  minMcFCount: number;
  maxMcFCount: number;
}

function groupId(v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 3) throw new Ts005Error(`McGroupID ${v} is outside 0..3`);
  return v;
}

function need(b: Buffer, n: number, what: string): void {
  if (b.length < n) throw new Ts005Error(`${what}: ${b.length} bytes, needs ${n}`);
}

export function encodeMcGroupSetupReq(r: McGroupSetupReq): Buffer {
  if (r.mcKeyEncrypted.length !== 16) throw new Ts005Error(`McKey_encrypted must be 16 bytes, got ${r.mcKeyEncrypted.length}`);
  const b = Buffer.alloc(30);
  b[0] = Ts005Cid.McGroupSetup;
  b[1] = groupId(r.mcGroupId);
  b.writeUInt32LE(r.mcAddr >>> 0, 2);
  r.mcKeyEncrypted.copy(b, 6);
  b.writeUInt32LE(r.minMcFCount >>> 0, 22);
  b.writeUInt32LE(r.maxMcFCount >>> 0, 26);
  return b;
}

export function decodeMcGroupSetupReq(b: Buffer): McGroupSetupReq {
  need(b, 30, 'McGroupSetupReq');
  return { mcGroupId: b[1]! & 3, mcAddr: b.readUInt32LE(2), mcKeyEncrypted: Buffer.from(b.subarray(6, 22)), minMcFCount: b.readUInt32LE(22), maxMcFCount: b.readUInt32LE(26) };
}

export function encodeMcGroupSetupAns(mcGroupId: number, idError: boolean): Buffer {
  return Buffer.from([Ts005Cid.McGroupSetup, groupId(mcGroupId) | (idError ? 4 : 0)]);
}

export function decodeMcGroupSetupAns(b: Buffer): { mcGroupId: number; idError: boolean } {
  need(b, 2, 'McGroupSetupAns');
  return { mcGroupId: b[1]! & 3, idError: !!(b[1]! & 4) };
}

export interface McClassCSessionReq {
  mcGroupId: number;
  /** Start of the session, GPS seconds modulo 2^32. */
  sessionTime: number;
  /** Session lasts 2^timeOut seconds (0..15). */
  timeOut: number;
  frequencyHz: number;
  dr: number;
}

export function encodeMcClassCSessionReq(r: McClassCSessionReq): Buffer {
  if (r.frequencyHz % 100 !== 0) throw new Ts005Error(`DLFrequ ${r.frequencyHz} Hz is not a multiple of 100 Hz`);
  if (!Number.isInteger(r.timeOut) || r.timeOut < 0 || r.timeOut > 15) throw new Ts005Error(`SessionTimeOut ${r.timeOut} is outside 0..15`);
  const b = Buffer.alloc(11);
  b[0] = Ts005Cid.McClassCSession;
  b[1] = groupId(r.mcGroupId);
  b.writeUInt32LE(r.sessionTime >>> 0, 2);
  b[6] = r.timeOut;
  b.writeUIntLE(r.frequencyHz / 100, 7, 3);
  b[10] = r.dr;
  return b;
}

export function decodeMcClassCSessionReq(b: Buffer): McClassCSessionReq {
  need(b, 11, 'McClassCSessionReq');
  return { mcGroupId: b[1]! & 3, sessionTime: b.readUInt32LE(2), timeOut: b[6]! & 15, frequencyHz: b.readUIntLE(7, 3) * 100, dr: b[10]! };
}

export interface McClassCSessionAns {
  mcGroupId: number;
  drError: boolean;
  freqError: boolean;
  mcGroupUndefined: boolean;
  /** Seconds until the session starts; present only without errors. */
  timeToStart?: number;
}

export function encodeMcClassCSessionAns(a: McClassCSessionAns): Buffer {
  const status = groupId(a.mcGroupId) | (a.drError ? 4 : 0) | (a.freqError ? 8 : 0) | (a.mcGroupUndefined ? 16 : 0);
  if (status & 0x1c) return Buffer.from([Ts005Cid.McClassCSession, status]);
  const b = Buffer.alloc(5);
  b[0] = Ts005Cid.McClassCSession;
  b[1] = status;
  b.writeUIntLE(Math.max(0, Math.min(a.timeToStart ?? 0, 0xffffff)), 2, 3);
  return b;
}

export function decodeMcClassCSessionAns(b: Buffer): McClassCSessionAns {
  need(b, 2, 'McClassCSessionAns');
  const s = b[1]!;
  const a: McClassCSessionAns = { mcGroupId: s & 3, drError: !!(s & 4), freqError: !!(s & 8), mcGroupUndefined: !!(s & 16) };
  if (!(s & 0x1c)) {
    need(b, 5, 'McClassCSessionAns');
    a.timeToStart = b.readUIntLE(2, 3);
  }
  return a;
}

function aesEcb(key: Buffer, block: Buffer, decrypt: boolean): Buffer {
  const c = decrypt ? createDecipheriv('aes-128-ecb', key, null) : createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** McKEKey = aes128_encrypt(GenAppKey, 0x00 | pad16) (TS005 §3.3). */
export function deriveMcKEKey(genAppKey: Buffer): Buffer {
  return aesEcb(genAppKey, Buffer.alloc(16), false);
}

/** Server side: McKey_encrypted = aes128_decrypt(McKEKey, McKey), so the device needs only AES encrypt. */
export function encryptMcKey(genAppKey: Buffer, mcKey: Buffer): Buffer {
  return aesEcb(deriveMcKEKey(genAppKey), mcKey, true);
}

/** Device side: McKey = aes128_encrypt(McKEKey, McKey_encrypted). */
export function decryptMcKey(genAppKey: Buffer, mcKeyEncrypted: Buffer): Buffer {
  return aesEcb(deriveMcKEKey(genAppKey), mcKeyEncrypted, false);
}

/** McAppSKey / McNwkSKey = aes128_encrypt(McKey, 0x01|0x02 | McAddr | pad16). */
export function deriveMcSessionKeys(mcKey: Buffer, mcAddr: number): { mcAppSKey: Buffer; mcNwkSKey: Buffer } {
  const block = (tag: number): Buffer => {
    const b = Buffer.alloc(16);
    b[0] = tag;
    b.writeUInt32LE(mcAddr >>> 0, 1);
    return b;
  };
  return { mcAppSKey: aesEcb(mcKey, block(0x01), false), mcNwkSKey: aesEcb(mcKey, block(0x02), false) };
}
