/**
 * LoRaWAN Application Layer Clock Synchronization, TS003-1.0.0 (default FPort 202): the messages a
 * device and the application server exchange to set the device clock to GPS time with second accuracy.
 * The FUOTA multicast setup needs it: McClassCSessionReq (TS005 §4.4) names its start in GPS seconds.
 * All fields little-endian; every message starts with its CID.
 */
import { GPS_EPOCH_UNIX, GPS_LEAP_SECONDS } from './fuota/ts005.ts';

export const TS003_DEFAULT_FPORT = 202;
/** TS003 §3.1: PackageIdentifier of the clock synchronization package. */
export const TS003_PACKAGE_ID = 1;
export const TS003_PACKAGE_VERSION = 1;

export const Ts003Cid = {
  PackageVersion: 0x00,
  AppTime: 0x01,
  DeviceAppTimePeriodicity: 0x02,
  ForceDeviceResync: 0x03,
} as const;

export class Ts003Error extends Error {}

function need(b: Buffer, n: number, what: string): void {
  if (b.length < n) throw new Ts003Error(`${what}: ${b.length} bytes, needs ${n}`);
}

function nibble(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 15) throw new Ts003Error(`${what} ${v} is outside 0..15`);
  return v;
}

/** Unix milliseconds (UTC) to GPS seconds modulo 2^32: GPS runs ahead of UTC by the leap seconds since 1980. */
export function utcMsToGpsSeconds(unixMs: number, leapSeconds = GPS_LEAP_SECONDS): number {
  return (Math.floor(unixMs / 1000) - GPS_EPOCH_UNIX + leapSeconds) >>> 0;
}

/** GPS seconds (not wrapped) to unix milliseconds (UTC). */
export function gpsSecondsToUtcMs(gpsSeconds: number, leapSeconds = GPS_LEAP_SECONDS): number {
  return (gpsSeconds + GPS_EPOCH_UNIX - leapSeconds) * 1000;
}

/** TS003 §3.2 AppTimeReq (uplink, 6 bytes): DeviceTime u32 GPS seconds, Param = TokenReq (bits 3:0) | AnsRequired (bit 4). */
export interface AppTimeReq {
  deviceTime: number;
  tokenReq: number;
  ansRequired: boolean;
}

export function encodeAppTimeReq(r: AppTimeReq): Buffer {
  const b = Buffer.alloc(6);
  b[0] = Ts003Cid.AppTime;
  b.writeUInt32LE(r.deviceTime >>> 0, 1);
  b[5] = nibble(r.tokenReq, 'TokenReq') | (r.ansRequired ? 0x10 : 0);
  return b;
}

export function decodeAppTimeReq(b: Buffer): AppTimeReq {
  need(b, 6, 'AppTimeReq');
  if (b[0] !== Ts003Cid.AppTime) throw new Ts003Error(`AppTimeReq: CID 0x${b[0]!.toString(16)} is not 0x01`);
  return { deviceTime: b.readUInt32LE(1), tokenReq: b[5]! & 0x0f, ansRequired: !!(b[5]! & 0x10) };
}

/** TS003 §3.2 AppTimeAns (downlink, 6 bytes): TimeCorrection s32 seconds, Param = TokenAns (bits 3:0). */
export interface AppTimeAns {
  timeCorrection: number;
  tokenAns: number;
}

export function encodeAppTimeAns(a: AppTimeAns): Buffer {
  if (!Number.isInteger(a.timeCorrection) || a.timeCorrection < -(2 ** 31) || a.timeCorrection >= 2 ** 31) {
    throw new Ts003Error(`TimeCorrection ${a.timeCorrection} s does not fit a signed 32-bit field`);
  }
  const b = Buffer.alloc(6);
  b[0] = Ts003Cid.AppTime;
  b.writeInt32LE(a.timeCorrection, 1);
  b[5] = nibble(a.tokenAns, 'TokenAns');
  return b;
}

export function decodeAppTimeAns(b: Buffer): AppTimeAns {
  need(b, 6, 'AppTimeAns');
  return { timeCorrection: b.readInt32LE(1), tokenAns: b[5]! & 0x0f };
}

/**
 * TimeCorrection = network GPS time at reception − DeviceTime (TS003 §3.2), both modulo 2^32: the
 * difference is taken modulo 2^32 and read as signed, so a device near the 2^32 wrap still gets the
 * small correction it needs.
 */
export function timeCorrection(networkGpsSeconds: number, deviceTime: number): number {
  return ((networkGpsSeconds >>> 0) - (deviceTime >>> 0)) | 0;
}

/** TS003 §3.4 ForceDeviceResyncReq (downlink, 2 bytes): NbTransmissions (bits 2:0), 1..7 AppTimeReq to send. */
export function encodeForceDeviceResyncReq(nbTransmissions: number): Buffer {
  if (!Number.isInteger(nbTransmissions) || nbTransmissions < 1 || nbTransmissions > 7) {
    throw new Ts003Error(`NbTransmissions ${nbTransmissions} is outside 1..7 (0 would be discarded by the device)`);
  }
  return Buffer.from([Ts003Cid.ForceDeviceResync, nbTransmissions]);
}

export function decodeForceDeviceResyncReq(b: Buffer): { nbTransmissions: number } {
  need(b, 2, 'ForceDeviceResyncReq');
  return { nbTransmissions: b[1]! & 0x07 };
}

/** TS003 §3.3 DeviceAppTimePeriodicityReq (downlink, 2 bytes): Period (bits 3:0), AppTimeReq every 128·2^Period s. */
export function encodeDeviceAppTimePeriodicityReq(period: number): Buffer {
  return Buffer.from([Ts003Cid.DeviceAppTimePeriodicity, nibble(period, 'Period')]);
}

/** TS003 §3.3 DeviceAppTimePeriodicityAns (uplink, 6 bytes): Status (bit 0 NotSupported), Time u32 GPS seconds. */
export function decodeDeviceAppTimePeriodicityAns(b: Buffer): { notSupported: boolean; time: number } {
  need(b, 6, 'DeviceAppTimePeriodicityAns');
  return { notSupported: !!(b[1]! & 1), time: b.readUInt32LE(2) };
}

export function encodeDeviceAppTimePeriodicityAns(notSupported: boolean, time: number): Buffer {
  const b = Buffer.alloc(6);
  b[0] = Ts003Cid.DeviceAppTimePeriodicity;
  b[1] = notSupported ? 1 : 0;
  b.writeUInt32LE(time >>> 0, 2);
  return b;
}

/** TS003 §3.1 PackageVersionReq is the CID alone; the answer names package 1 and its version. */
export function encodePackageVersionReq(): Buffer {
  return Buffer.from([Ts003Cid.PackageVersion]);
}

export function decodePackageVersionAns(b: Buffer): { packageIdentifier: number; packageVersion: number } {
  need(b, 3, 'PackageVersionAns');
  return { packageIdentifier: b[1]!, packageVersion: b[2]! };
}
