import { describe, expect, it } from 'vitest';
import { parseUplink } from '../../../src/bearer/lora/chirpstack/messages.ts';
import * as ts003 from '../../../src/bearer/lora/clock-sync.ts';

const topic = 'application/app/device/70b3d57ed0000001/event/up';
const event = (extra: Record<string, unknown>): Buffer => Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed0000001' }, fPort: 202, data: 'AQ==', ...extra }));

describe('TS003 clock synchronization messages', () => {
  it('lays out AppTimeReq as CID, DeviceTime u32 LE, then TokenReq in bits 3:0 and AnsRequired in bit 4 (§3.2)', () => {
    const b = ts003.encodeAppTimeReq({ deviceTime: 0x499602d2, tokenReq: 5, ansRequired: true });
    expect(b.toString('hex')).toBe('01' + 'd2029649' + '15');
    expect(ts003.decodeAppTimeReq(b)).toEqual({ deviceTime: 1_234_567_890, tokenReq: 5, ansRequired: true });
    expect(ts003.decodeAppTimeReq(Buffer.from('01d2029649ef', 'hex'))).toEqual({ deviceTime: 1_234_567_890, tokenReq: 15, ansRequired: false });
  });

  it('lays out AppTimeAns as CID, TimeCorrection s32 LE, TokenAns in bits 3:0 (§3.2)', () => {
    expect(ts003.encodeAppTimeAns({ timeCorrection: -3, tokenAns: 5 }).toString('hex')).toBe('01' + 'fdffffff' + '05');
    expect(ts003.encodeAppTimeAns({ timeCorrection: 86_400, tokenAns: 0 }).toString('hex')).toBe('01' + '80510100' + '00');
    expect(ts003.decodeAppTimeAns(Buffer.from('01fdffffff05', 'hex'))).toEqual({ timeCorrection: -3, tokenAns: 5 });
    expect(() => ts003.encodeAppTimeAns({ timeCorrection: 2 ** 31, tokenAns: 0 })).toThrow(/does not fit a signed 32-bit field/);
    expect(() => ts003.encodeAppTimeAns({ timeCorrection: 0, tokenAns: 16 })).toThrow(/TokenAns 16 is outside 0\.\.15/);
  });

  it('encodes ForceDeviceResyncReq with NbTransmissions in bits 2:0 and refuses 0, which the device would discard (§3.4)', () => {
    expect(ts003.encodeForceDeviceResyncReq(3).toString('hex')).toBe('0303');
    expect(ts003.decodeForceDeviceResyncReq(Buffer.from('03fb', 'hex'))).toEqual({ nbTransmissions: 3 });
    expect(() => ts003.encodeForceDeviceResyncReq(0)).toThrow(/NbTransmissions 0 is outside 1\.\.7/);
  });

  it('reads the periodicity answer (§3.3) and the package version answer (§3.1)', () => {
    expect(ts003.encodeDeviceAppTimePeriodicityReq(4).toString('hex')).toBe('0204');
    expect(ts003.decodeDeviceAppTimePeriodicityAns(ts003.encodeDeviceAppTimePeriodicityAns(true, 1_356_091_325))).toEqual({ notSupported: true, time: 1_356_091_325 });
    expect(ts003.decodePackageVersionAns(Buffer.from([0, 1, 1]))).toEqual({ packageIdentifier: ts003.TS003_PACKAGE_ID, packageVersion: 1 });
    expect(() => ts003.decodeAppTimeReq(Buffer.from('01d202', 'hex'))).toThrow(/AppTimeReq: 3 bytes, needs 6/);
  });

  it('converts UTC to GPS seconds with the 18 leap seconds, as a GPS gateway reports both', () => {
    // One uplink as a GPS gateway reports it through ChirpStack: rxInfo time and timeSinceGpsEpoch.
    expect(ts003.utcMsToGpsSeconds(Date.parse('2022-12-26T12:01:47.709920Z'))).toBe(1_356_091_325);
    expect(ts003.gpsSecondsToUtcMs(1_356_091_325)).toBe(Date.parse('2022-12-26T12:01:47Z'));
    expect(ts003.utcMsToGpsSeconds(Date.parse('1980-01-06T00:00:00Z'), 0)).toBe(0);
  });

  it('computes the correction modulo 2^32 so a clock near the wrap still gets a small signed value', () => {
    expect(ts003.timeCorrection(1_000, 990)).toBe(10);
    expect(ts003.timeCorrection(990, 1_000)).toBe(-10);
    expect(ts003.timeCorrection(5, 0xfffffffb)).toBe(10);
  });
});

describe('reception time of a ChirpStack uplink event', () => {
  it("prefers a GPS gateway's timeSinceGpsEpoch, then gwTime / time, then nsTime, then the event time", () => {
    const gps = parseUplink(topic, event({ time: '2026-11-25T10:00:00Z', rxInfo: [{ gatewayId: 'a', rssi: -90 }, { gatewayId: 'b', time: '2022-12-26T12:01:47.709920+00:00', timeSinceGpsEpoch: '1356091325.709920s' }] }));
    expect(gps.rxTime).toEqual({ gpsSeconds: 1_356_091_325.70992 });
    expect(parseUplink(topic, event({ time: '2026-11-25T10:00:00Z', rxInfo: [{ nsTime: '2026-11-25T09:00:01Z' }, { gwTime: '2026-11-25T09:00:00.5Z' }] })).rxTime).toEqual({ utcMs: Date.parse('2026-11-25T09:00:00.5Z') });
    expect(parseUplink(topic, event({ time: '2026-11-25T10:00:00Z', rxInfo: [{ nsTime: '2026-11-25T09:00:01Z' }] })).rxTime).toEqual({ utcMs: Date.parse('2026-11-25T09:00:01Z') });
    expect(parseUplink(topic, event({ time: '2026-11-25T10:00:00Z' })).rxTime).toEqual({ utcMs: Date.parse('2026-11-25T10:00:00Z') });
    expect(parseUplink(topic, event({ time: 'yesterday' })).rxTime).toBeUndefined();
  });
});
