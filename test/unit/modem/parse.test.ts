import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRegistered, parseUrc, splitParams } from '../../../src/modem/at/urc.ts';
import { cmeText } from '../../../src/modem/errors.ts';
import { detectModel, parseCeregRead, parseCesq, parseCgpaddr, parseCsq, parseQengBc66, parseQengBg96, parseQiact, parseRevision } from '../../../src/modem/parse.ts';

describe('URC demultiplexing', () => {
  it('reads BG96 "UDP SERVICE" direct-push recv with the remote address', () => {
    expect(parseUrc('+QIURC: "recv",2,4,"10.7.89.10",6969', Buffer.from('74657374'))).toEqual({
      type: 'recv', connectId: 2, length: 4, address: '10.7.89.10', port: 6969, payload: Buffer.from('74657374'),
    });
  });
  it('reads BC66 direct push with inline hex data (viewmode 1)', () => {
    expect(parseUrc('+QIURC: "recv",0,3,ABCDEF')).toEqual({ type: 'recv', connectId: 0, length: 3, hex: 'ABCDEF' });
  });
  it('reads buffer-mode recv, closed and pdpdeact', () => {
    expect(parseUrc('+QIURC: "recv",1')).toMatchObject({ type: 'recv', connectId: 1 });
    expect(parseUrc('+QIURC: "closed",3')).toEqual({ type: 'closed', connectId: 3 });
    expect(parseUrc('+QIURC: "pdpdeact",1')).toEqual({ type: 'pdpdeact', contextId: 1 });
  });
  it('reads +CEREG URCs with and without location, +IP, RDY and power-down', () => {
    expect(parseUrc('+CEREG: 5,"1A2B","0A2B3C4",9')).toEqual({ type: 'cereg', stat: 5, tac: '1A2B', cellId: '0A2B3C4' });
    expect(parseUrc('+CEREG: 2')).toEqual({ type: 'cereg', stat: 2, tac: undefined, cellId: undefined });
    expect(parseUrc('+IP: 10.1.2.3')).toEqual({ type: 'ip', address: '10.1.2.3' });
    expect(parseUrc('RDY')).toEqual({ type: 'ready' });
    expect(parseUrc('APP RDY')).toEqual({ type: 'ready' });
    expect(parseUrc('POWERED DOWN')).toEqual({ type: 'powerdown', text: 'POWERED DOWN' });
    expect(parseUrc('NORMAL POWER DOWN')).toEqual({ type: 'powerdown', text: 'NORMAL POWER DOWN' });
  });
  it('keeps commas inside quotes together', () => {
    expect(splitParams('"a,b",1,,"x"')).toEqual(['a,b', '1', '', 'x']);
  });
  it('turns malformed URCs into "other" instead of throwing', () => {
    expect(parseUrc('+QIURC: "recv",x')).toEqual({ type: 'other', text: '+QIURC: "recv",x' });
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => void parseUrc(`+QIURC: ${s}`)));
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => void parseUrc(`+CEREG: ${s}`)));
  });
  it('counts only home (1) and roaming (5) as registered', () => {
    expect([0, 1, 2, 3, 4, 5].map(isRegistered)).toEqual([false, true, false, false, false, true]);
  });
});

describe('response parsers', () => {
  it('detects the model from ATI and reads the revision from AT+CGMR', () => {
    expect(detectModel(['Quectel_Ltd', 'Quectel_BC66', 'Revision: BC66NBR01A10'])).toBe('bc66');
    expect(detectModel(['Quectel', 'BG96', 'Revision: BG96MAR02A07M1G'])).toBe('bg96');
    expect(detectModel(['SIMCOM_Ltd', 'SIMCOM_SIM7000E'])).toBeUndefined();
    expect(parseRevision(['Revision: BC66NBR01A10'])).toBe('BC66NBR01A10');
    expect(parseRevision(['BG96MAR02A07M1G'])).toBe('BG96MAR02A07M1G');
  });
  it('converts CSQ and CESQ to dBm and dB, and 99/255 to unknown', () => {
    expect(parseCsq('+CSQ: 20,99')).toEqual({ csq: 20, rssiDbm: -73 });
    expect(parseCsq('+CSQ: 99,99')).toEqual({ csq: 99 });
    expect(parseCesq('+CESQ: 99,99,255,255,21,53')).toEqual({ rsrq: -9, rsrp: -87 });
    expect(parseCesq('+CESQ: 99,99,255,255,255,255')).toEqual({});
    expect(parseCesq('+CESQ: 1,2')).toBeUndefined();
  });
  it('reads the CEREG read form (n first)', () => {
    expect(parseCeregRead('+CEREG: 2,1,"1A2B","0A2B3C4",9')).toEqual({ stat: 1, tac: '1A2B', cellId: '0A2B3C4' });
    expect(parseCeregRead('+CEREG: 0,2')).toEqual({ stat: 2 });
  });
  it('reads the BC66 serving cell from AT+QENG=0', () => {
    expect(parseQengBc66('+QENG: 0,3734,2,257,"0A2B3C4",-87,-9,-60,12,20,"1A2B",1,10,0')).toEqual({
      rat: 'NB-IoT', earfcn: 3734, pci: 257, cellId: '0A2B3C4', rsrp: -87, rsrq: -9, rssi: -60, sinr: 12, band: 20, tac: '1A2B', ceLevel: 1,
    });
    expect(parseQengBc66('+QENG: 3,1,2,3')).toBeUndefined();
  });
  it('reads the BG96 serving cell and converts SINR from 1/5 dB steps', () => {
    expect(parseQengBg96('+QENG: "servingcell","NOCONN","CAT-M","FDD",262,01,1A2D001,257,6300,20,5,5,1A2B,-95,-11,-65,150,30')).toMatchObject({
      state: 'NOCONN', rat: 'CAT-M', cellId: '1A2D001', pci: 257, earfcn: 6300, band: 20, tac: '1A2B', rsrp: -95, rsrq: -11, rssi: -65, sinr: 10,
    });
    expect(parseQengBg96('+QENG: "servingcell","SEARCH"')).toEqual({ state: 'SEARCH' });
  });
  it('reads the PDP address from AT+QIACT? and AT+CGPADDR', () => {
    expect(parseQiact(['+QIACT: 1,1,1,"10.64.0.17"'], 1)).toBe('10.64.0.17');
    expect(parseQiact(['+QIACT: 2,1,1,"10.64.0.18"'], 1)).toBeUndefined();
    expect(parseCgpaddr(['+CGPADDR: 1,10.64.0.17'], 1)).toBe('10.64.0.17');
    expect(parseCgpaddr(['+CGPADDR: 1'], 1)).toBeUndefined();
  });
  it('names common +CME ERROR codes', () => {
    expect(cmeText(10)).toBe('SIM not inserted');
    expect(cmeText(566)).toBe('socket connect failed');
    expect(cmeText(9999)).toBe('unlisted error code');
  });
});
