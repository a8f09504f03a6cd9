import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.ts';
import { buildDownlink, ChirpStackMessageError, commandDownTopic, eventTopic, parseAck, parseTxAck, parseUplink } from '../../../src/bearer/lora/chirpstack/messages.ts';
import { timeOnAirMs } from '../../../src/bearer/lora/airtime.ts';
import { blockSzxForDr, drFromSpreadingFactor, maxPayload } from '../../../src/bearer/lora/regional.ts';

const APP = '7d5b2a3c-9f1e-4c1b-8a61-2f7e0c4d9b10';

describe('lora config', () => {
  it('accepts a minimal section and fills the documented defaults', () => {
    const c = parseConfigText(`lora:\n  chirpstack:\n    applicationId: ${APP}\n  devices:\n    70B3D57ED0000001: { class: C }\n`, 'furrow.yaml');
    expect(c.lora).toMatchObject({ name: 'lora', unicast: { fPortBase: 20 }, multicast: { fragFPort: 201, setupFPort: 200, dr: 5, redundancy: 0.2 } });
    expect(c.lora!.devices['70b3d57ed0000001']).toEqual({ class: 'C' });
  });

  it('is off unless configured', () => {
    expect(parseConfigText('{}', 'furrow.yaml').lora).toBeNull();
  });

  it('points at the line of a bad value: FPorts above 223, wildcard topic prefix, short DevEUI', () => {
    const yaml = ['lora:', '  chirpstack:', `    applicationId: ${APP}`, '    topicPrefix: "site/#/"', '  unicast:', '    fPortBase: 220', '  devices:', '    70b3: {}', ''].join('\n');
    let msg = '';
    try {
      parseConfigText(yaml, 'furrow.yaml');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/furrow\.yaml:4:\d+ .*topicPrefix/);
    expect(msg).toMatch(/furrow\.yaml:6:\d+ .*fPortBase/);
    expect(msg).toMatch(/furrow\.yaml:8:\d+ lora\.devices/);
  });

  it('refuses an fPortBase that would put the last SCHC rule (21) above FPort 223, and takes the highest that fits', () => {
    const at = (base: number) => ['lora:', '  chirpstack:', `    applicationId: ${APP}`, '  unicast:', `    fPortBase: ${base}`, ''].join('\n');
    expect(() => parseConfigText(at(203), 'furrow.yaml')).toThrow(/furrow\.yaml:5:\d+ lora\.unicast\.fPortBase: .*202/);
    expect(parseConfigText(at(202), 'furrow.yaml').lora?.unicast.fPortBase).toBe(202);
  });

  it('refuses two features on one FPort and one device id for two DevEUIs, at the line of the second', () => {
    const yaml = [
      'lora:',
      '  chirpstack:',
      `    applicationId: ${APP}`,
      '  clockSync:',
      '    fPort: 201',
      '  devices:',
      '    70b3d57ed0000001: { deviceId: probe-1 }',
      '    70b3d57ed0000002: { deviceId: probe-1 }',
      '',
    ].join('\n');
    let msg = '';
    try {
      parseConfigText(yaml, 'furrow.yaml');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/furrow\.yaml:5:\d+ lora\.clockSync\.fPort: FPort 201 is already multicast\.fragFPort/);
    expect(msg).toMatch(/furrow\.yaml:8:\d+ lora\.devices\.70b3d57ed0000002\.deviceId: device id "probe-1" is already DevEUI 70b3d57ed0000001/);
  });
});

describe('ChirpStack v4 JSON', () => {
  const topic = eventTopic('', APP, '70b3d57ed0000001', 'up');

  it('lays out topics the way ChirpStack v4 does, with an optional prefix', () => {
    expect(topic).toBe(`application/${APP}/device/70b3d57ed0000001/event/up`);
    expect(commandDownTopic('site1/', APP, 'ab')).toBe(`site1/application/${APP}/device/ab/command/down`);
  });

  it('reads an uplink event, taking defaults for fields protobuf JSON leaves out', () => {
    const u = parseUplink(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70B3D57ED0000001', deviceClassEnabled: 'CLASS_C' }, fPort: 21, txInfo: { modulation: { lora: { bandwidth: 125000, spreadingFactor: 9 } } }, rxInfo: [{ rssi: -110, snr: -3 }, { rssi: -90, snr: 8 }] })));
    expect(u).toMatchObject({ devEui: '70b3d57ed0000001', fPort: 21, fCnt: 0, dr: 3, deviceClass: 'C', rssi: -90, snr: 8 });
    expect(u.data.length).toBe(0);
  });

  it('names the field and the topic when an event is malformed', () => {
    expect(() => parseUplink(topic, Buffer.from('{'))).toThrow(ChirpStackMessageError);
    expect(() => parseUplink(topic, Buffer.from('{'))).toThrow(/json marshaling/);
    expect(() => parseUplink(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: 'zz' } })))).toThrow(/deviceInfo\.devEui: devEui must be 16 hex digits/);
    expect(() => parseUplink(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed0000001' }, data: '%%%' })))).toThrow(/data: data must be base64/);
    expect(() => parseUplink(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed0000001' }, fPort: 300 })))).toThrow(/fPort/);
  });

  it('reads ack and txack events and builds a downlink command', () => {
    expect(parseAck(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed0000001' }, queueItemId: 'q1', acknowledged: true, fCntDown: 4 })))).toEqual({ devEui: '70b3d57ed0000001', queueItemId: 'q1', acknowledged: true, fCntDown: 4 });
    expect(parseTxAck(topic, Buffer.from(JSON.stringify({ deviceInfo: { devEui: '70b3d57ed0000001' }, queueItemId: 'q2', gatewayId: 'g' })))).toMatchObject({ queueItemId: 'q2', fCntDown: 0 });
    expect(buildDownlink('id', '70b3d57ed0000001', 21, Buffer.from([1, 2, 3]), false)).toEqual({ id: 'id', devEui: '70b3d57ed0000001', confirmed: false, fPort: 21, data: 'AQID' });
    expect(() => buildDownlink('id', '70b3d57ed0000001', 0, Buffer.alloc(1), false)).toThrow(/FPort 0 is outside 1\.\.223/);
  });
});

describe('EU868 regional parameters and airtime', () => {
  it('knows N per data rate, with the repeater-compatible variant', () => {
    expect([0, 1, 2, 3, 4, 5].map((dr) => maxPayload(dr))).toEqual([51, 51, 51, 115, 242, 242]);
    expect(maxPayload(5, true)).toBe(222);
    expect(() => maxPayload(9)).toThrow(/DR9/);
    expect(drFromSpreadingFactor(12)).toBe(0);
    expect(drFromSpreadingFactor(7, 250_000)).toBe(6);
  });

  it('computes time on air with the Semtech formula (SF12 51 B uplink ≈ 2.79 s, SF7 242 B downlink ≈ 394 ms)', () => {
    expect(timeOnAirMs(51, 0, { direction: 'up' })).toBeCloseTo(2793.5, 0);
    expect(timeOnAirMs(242, 5, { direction: 'down' })).toBeCloseTo(394.5, 0);
    expect(timeOnAirMs(10, 7, { direction: 'down' })).toBeCloseTo(((5 + 3 + 1 + 23 + 2) * 8) / 50, 3);
  });

  it('refuses a data rate that cannot carry even a 16-byte block', () => {
    expect(() => blockSzxForDr(0, 40)).toThrow(/not even a 16-byte block/);
  });
});
