import { describe, expect, it } from 'vitest';
import { modemConfigSchema } from '../../../src/modem/config.ts';

describe('modem config', () => {
  it('defaults to auto-detection, push mode, prompt send and power saving off', () => {
    expect(modemConfigSchema.parse({ port: '/dev/ttyUSB2' })).toMatchObject({
      model: 'auto', baudRate: 115200, localPort: 5683, accessMode: 'push', sendFormat: 'prompt', peers: [],
      bc66: { psm: null, edrx: null, sleep: false }, bg96: { iotopmode: 'both', nwscanseq: '0203' },
    });
  });

  it('refuses bad values and says what is allowed', () => {
    const issues = (v: unknown) => {
      const r = modemConfigSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ port: '/dev/x', peers: ['10.0.0.1:70000'] })).toEqual(['peers.0: IPv4 octets 0..255 and a port 1..65535']);
    expect(issues({ port: '/dev/x', peers: ['gateway:5683'] })).toEqual(['peers.0: an IPv4 address and port, e.g. "10.20.0.7:5683"']);
    expect(issues({ port: '/dev/x', bc66: { psm: { tau: '0101', activeTime: '00000001' } } })[0]).toMatch(/^bc66\.psm\.tau: 8 bits/);
    expect(issues({ port: '/dev/x', bg96: { nwscanseq: '0204' } })[0]).toMatch(/^bg96\.nwscanseq: a sequence of 01 \(GSM\)/);
    expect(issues({ port: '/dev/x', model: 'sim7000' })[0]).toMatch(/^model: /);
    expect(issues({ port: '/dev/x', baud: 9600 })[0]).toMatch(/baud/);
  });
});
