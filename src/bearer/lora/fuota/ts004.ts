/**
 * LoRaWAN Fragmented Data Block Transport, TS004-1.0.0 (default FPort 201). All multi-byte fields are
 * little-endian, as everywhere in LoRaWAN. Parsers throw Ts004Error naming the command and the problem.
 */
export const TS004_PACKAGE_ID = 3;
export const TS004_PACKAGE_VERSION = 1;
export const TS004_DEFAULT_FPORT = 201;

export const Ts004Cid = {
  PackageVersion: 0x00,
  FragSessionStatus: 0x01,
  FragSessionSetup: 0x02,
  FragSessionDelete: 0x03,
  DataFragment: 0x08,
} as const;

export class Ts004Error extends Error {}

export interface FragSessionSetupReq {
  fragIndex: number;
  /** Bit i set: the session is received through multicast group i (TS005). 0 = unicast. */
  mcGroupBitMask: number;
  nbFrag: number;
  fragSize: number;
  /** 0 = the parity matrix of TS004 §4 annex; the only one defined. */
  fragmentationMatrix: number;
  blockAckDelay: number;
  padding: number;
  descriptor: Buffer;
}

export interface DataFragment {
  fragIndex: number;
  /** 1..nbFrag: uncoded fragment; above nbFrag: coded (parity) fragment. */
  n: number;
  payload: Buffer;
}

export interface FragSessionStatusAns {
  fragIndex: number;
  nbFragReceived: number;
  /** Fragments still missing, saturated at 255. */
  missingFrag: number;
  notEnoughMatrixMemory: boolean;
}

function need(buf: Buffer, n: number, what: string): void {
  if (buf.length < n) throw new Ts004Error(`${what}: ${buf.length} bytes, needs ${n}`);
}

function range(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Ts004Error(`${what} ${v} is outside 0..${max}`);
  return v;
}

export function encodeFragSessionSetupReq(r: FragSessionSetupReq): Buffer {
  const b = Buffer.alloc(11);
  b[0] = Ts004Cid.FragSessionSetup;
  b[1] = (range(r.fragIndex, 3, 'FragIndex') << 4) | range(r.mcGroupBitMask, 15, 'McGroupBitMask');
  b.writeUInt16LE(range(r.nbFrag, 0xffff, 'NbFrag'), 2);
  b[4] = range(r.fragSize, 255, 'FragSize');
  b[5] = (range(r.fragmentationMatrix, 7, 'FragmentationMatrix') << 3) | range(r.blockAckDelay, 7, 'BlockAckDelay');
  b[6] = range(r.padding, 255, 'Padding');
  if (r.descriptor.length !== 4) throw new Ts004Error(`Descriptor must be 4 bytes, got ${r.descriptor.length}`);
  r.descriptor.copy(b, 7);
  return b;
}

export function decodeFragSessionSetupReq(b: Buffer): FragSessionSetupReq {
  need(b, 11, 'FragSessionSetupReq');
  return {
    fragIndex: (b[1]! >> 4) & 3,
    mcGroupBitMask: b[1]! & 15,
    nbFrag: b.readUInt16LE(2),
    fragSize: b[4]!,
    fragmentationMatrix: (b[5]! >> 3) & 7,
    blockAckDelay: b[5]! & 7,
    padding: b[6]!,
    descriptor: Buffer.from(b.subarray(7, 11)),
  };
}

export interface FragSessionSetupAns {
  fragIndex: number;
  encodingUnsupported: boolean;
  notEnoughMemory: boolean;
  fragSessionIndexNotSupported: boolean;
  wrongDescriptor: boolean;
}

export function encodeFragSessionSetupAns(a: FragSessionSetupAns): Buffer {
  const bits = (a.encodingUnsupported ? 1 : 0) | (a.notEnoughMemory ? 2 : 0) | (a.fragSessionIndexNotSupported ? 4 : 0) | (a.wrongDescriptor ? 8 : 0);
  return Buffer.from([Ts004Cid.FragSessionSetup, (range(a.fragIndex, 3, 'FragIndex') << 6) | bits]);
}

export function decodeFragSessionSetupAns(b: Buffer): FragSessionSetupAns {
  need(b, 2, 'FragSessionSetupAns');
  const s = b[1]!;
  return { fragIndex: s >> 6, encodingUnsupported: !!(s & 1), notEnoughMemory: !!(s & 2), fragSessionIndexNotSupported: !!(s & 4), wrongDescriptor: !!(s & 8) };
}

export function encodeDataFragment(f: DataFragment): Buffer {
  const b = Buffer.alloc(3 + f.payload.length);
  b[0] = Ts004Cid.DataFragment;
  b.writeUInt16LE((range(f.fragIndex, 3, 'FragIndex') << 14) | range(f.n, 0x3fff, 'fragment number N'), 1);
  f.payload.copy(b, 3);
  return b;
}

export function decodeDataFragment(b: Buffer): DataFragment {
  need(b, 4, 'DataFragment');
  const v = b.readUInt16LE(1);
  const n = v & 0x3fff;
  if (n === 0) throw new Ts004Error('DataFragment: fragment number N is 0 (numbering starts at 1)');
  return { fragIndex: v >> 14, n, payload: Buffer.from(b.subarray(3)) };
}

export function encodeFragSessionStatusReq(fragIndex: number, participantsOnly: boolean): Buffer {
  return Buffer.from([Ts004Cid.FragSessionStatus, (range(fragIndex, 3, 'FragIndex') << 1) | (participantsOnly ? 1 : 0)]);
}

export function decodeFragSessionStatusReq(b: Buffer): { fragIndex: number; participantsOnly: boolean } {
  need(b, 2, 'FragSessionStatusReq');
  return { fragIndex: (b[1]! >> 1) & 3, participantsOnly: !!(b[1]! & 1) };
}

export function encodeFragSessionStatusAns(a: FragSessionStatusAns): Buffer {
  const b = Buffer.alloc(5);
  b[0] = Ts004Cid.FragSessionStatus;
  b.writeUInt16LE((range(a.fragIndex, 3, 'FragIndex') << 14) | Math.min(a.nbFragReceived, 0x3fff), 1);
  b[3] = Math.min(a.missingFrag, 255);
  b[4] = a.notEnoughMatrixMemory ? 1 : 0;
  return b;
}

export function decodeFragSessionStatusAns(b: Buffer): FragSessionStatusAns {
  need(b, 5, 'FragSessionStatusAns');
  const v = b.readUInt16LE(1);
  return { fragIndex: v >> 14, nbFragReceived: v & 0x3fff, missingFrag: b[3]!, notEnoughMatrixMemory: !!(b[4]! & 1) };
}

export function encodeFragSessionDeleteReq(fragIndex: number): Buffer {
  return Buffer.from([Ts004Cid.FragSessionDelete, range(fragIndex, 3, 'FragIndex')]);
}

export function encodePackageVersionAns(): Buffer {
  return Buffer.from([Ts004Cid.PackageVersion, TS004_PACKAGE_ID, TS004_PACKAGE_VERSION]);
}
