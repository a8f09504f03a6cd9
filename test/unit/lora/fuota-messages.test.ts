import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeRepairRequest, encodeRepairRequest } from '../../../src/bearer/lora/fuota/repair.ts';
import * as ts004 from '../../../src/bearer/lora/fuota/ts004.ts';
import * as ts005 from '../../../src/bearer/lora/fuota/ts005.ts';

describe('TS004 fragmentation messages', () => {
  it('encodes FragSessionSetupReq field by field, little-endian, and reads it back', () => {
    const req = { fragIndex: 1, mcGroupBitMask: 0b0001, nbFrag: 0x0112, fragSize: 239, fragmentationMatrix: 0, blockAckDelay: 3, padding: 17, descriptor: Buffer.from('a1b2c3d4', 'hex') };
    const b = ts004.encodeFragSessionSetupReq(req);
    expect(b.toString('hex')).toBe('02' + '11' + '1201' + 'ef' + '03' + '11' + 'a1b2c3d4');
    expect(ts004.decodeFragSessionSetupReq(b)).toEqual(req);
  });

  it('packs FragIndex and the 14-bit fragment number N into DataFragment', () => {
    const f = { fragIndex: 2, n: 0x3fff, payload: randomBytes(10) };
    const b = ts004.encodeDataFragment(f);
    expect(b.readUInt16LE(1)).toBe(0xbfff);
    expect(ts004.decodeDataFragment(b)).toEqual(f);
    expect(() => ts004.decodeDataFragment(Buffer.from([8, 0, 0, 1]))).toThrow(/N is 0/);
    expect(() => ts004.encodeDataFragment({ fragIndex: 4, n: 1, payload: Buffer.alloc(1) })).toThrow(/FragIndex 4 is outside 0\.\.3/);
  });

  it('round-trips status and setup answers and refuses short frames by name', () => {
    const st = { fragIndex: 3, nbFragReceived: 500, missingFrag: 255, notEnoughMatrixMemory: true };
    expect(ts004.decodeFragSessionStatusAns(ts004.encodeFragSessionStatusAns({ ...st, missingFrag: 900 }))).toEqual(st);
    expect(ts004.decodeFragSessionStatusReq(ts004.encodeFragSessionStatusReq(2, true))).toEqual({ fragIndex: 2, participantsOnly: true });
    const ans = { fragIndex: 1, encodingUnsupported: false, notEnoughMemory: true, fragSessionIndexNotSupported: false, wrongDescriptor: true };
    expect(ts004.decodeFragSessionSetupAns(ts004.encodeFragSessionSetupAns(ans))).toEqual(ans);
    expect(() => ts004.decodeFragSessionSetupReq(Buffer.alloc(5))).toThrow(/FragSessionSetupReq: 5 bytes, needs 11/);
  });
});

describe('TS005 multicast setup messages', () => {
  it('encodes McGroupSetupReq and McClassCSessionReq and reads them back', () => {
    const g = { mcGroupId: 2, mcAddr: 0x01abcdef, mcKeyEncrypted: randomBytes(16), minMcFCount: 0, maxMcFCount: 0xffffffff };
    const gb = ts005.encodeMcGroupSetupReq(g);
    expect(gb.length).toBe(30);
    expect(ts005.decodeMcGroupSetupReq(gb)).toEqual(g);
    const c = { mcGroupId: 0, sessionTime: 1_400_000_000, timeOut: 11, frequencyHz: 869_525_000, dr: 5 };
    const cb = ts005.encodeMcClassCSessionReq(c);
    expect(cb.readUIntLE(7, 3)).toBe(8_695_250);
    expect(ts005.decodeMcClassCSessionReq(cb)).toEqual(c);
    expect(() => ts005.encodeMcClassCSessionReq({ ...c, frequencyHz: 869_525_050 })).toThrow(/multiple of 100 Hz/);
  });

  it('carries TimeToStart only when the session answer has no error bit', () => {
    expect(ts005.decodeMcClassCSessionAns(ts005.encodeMcClassCSessionAns({ mcGroupId: 1, drError: false, freqError: false, mcGroupUndefined: false, timeToStart: 42 }))).toMatchObject({ timeToStart: 42 });
    const err = ts005.encodeMcClassCSessionAns({ mcGroupId: 1, drError: true, freqError: false, mcGroupUndefined: false, timeToStart: 42 });
    expect(err.length).toBe(2);
    expect(ts005.decodeMcClassCSessionAns(err).timeToStart).toBeUndefined();
  });

  it('wraps the group key so only the device with the GenAppKey unwraps it', () => {
    const genAppKey = randomBytes(16);
    const mcKey = randomBytes(16);
    const wrapped = ts005.encryptMcKey(genAppKey, mcKey);
    expect(wrapped.equals(mcKey)).toBe(false);
    expect(ts005.decryptMcKey(genAppKey, wrapped).equals(mcKey)).toBe(true);
    expect(ts005.decryptMcKey(randomBytes(16), wrapped).equals(mcKey)).toBe(false);
    const k = ts005.deriveMcSessionKeys(mcKey, 0x01020304);
    expect(k.mcAppSKey.equals(k.mcNwkSKey)).toBe(false);
  });

  it('counts session time in GPS seconds', () => {
    expect(ts005.unixToGpsSeconds(Date.UTC(1980, 0, 6) + 1000)).toBe(1 + 18);
  });
});

describe('furrow repair request', () => {
  it('names fragments as ranges and stops at the frame limit', () => {
    const want = [1, 2, 3, 7, 100, 101, 300];
    const { frame, count } = encodeRepairRequest(1, want, 51);
    expect(count).toBe(7);
    expect(frame.length).toBe(1 + 4 * 3);
    expect(decodeRepairRequest(frame)).toEqual({ fragIndex: 1, fragments: want });
    const many = Array.from({ length: 40 }, (_, i) => i * 2 + 1);
    const small = encodeRepairRequest(0, many, 10);
    expect(small.count).toBe(3);
    expect(() => decodeRepairRequest(Buffer.from([0, 1, 0]))).toThrow(/not 1 \+ 3·k/);
    expect(() => decodeRepairRequest(Buffer.from([0, 0, 0, 1]))).toThrow(/outside 1\.\.16383/);
  });
});
