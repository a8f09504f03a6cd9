/**
 * Fuzzing the modem's AT stack input side: the framer (bytes → lines) with the BG96 payload rule, the URC
 * parser and the information-response parsers. None may throw, and no byte sequence may wedge the framer:
 * after any input, a modem that goes on sending "OK" lines must be heard again.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { AtClient } from '../../src/modem/at/client.ts';
import { AtFramer, type Token } from '../../src/modem/at/framer.ts';
import { looksLikeUrc, parseUrc } from '../../src/modem/at/urc.ts';
import type { ModemConfig } from '../../src/modem/config.ts';
import { DatagramIo } from '../../src/modem/datagrams.ts';
import { parseCeLevel, parseCeregRead, parseCesq, parseCgpaddr, parseCpin, parseCsq, parseQengBc66, parseQengBg96, parseQiact, parseRevision, detectModel } from '../../src/modem/parse.ts';
import { pino } from 'pino';
import { checkTyped, fcParams, inputArb, printTallies, tally } from './harness.ts';

afterAll(() => printTallies('AT line fuzzing'));

const SAMPLES = [
  '\r\n+QIURC: "recv",0,5,"10.0.0.2",5683\r\n48656c6c6f\r\n',
  '\r\n+QIRD: 4,"10.0.0.2",5683\r\n01020304\r\nOK\r\n',
  '\r\n+QIURC: "recv",1,4,40010001\r\n',
  '\r\n+CEREG: 1,"1A2B","01A2B3C4",9\r\n',
  '\r\n+CSQ: 21,99\r\n\r\nOK\r\n',
  '\r\n+CESQ: 99,99,255,255,20,45\r\n\r\nOK\r\n',
  '\r\n+QENG: "servingcell","NOCONN","CAT-NB","FDD",262,01,1A2B3C4,123,6300,20,3,3,1A2B,-95,-10,-65,10,-\r\n',
  '\r\n+QENG: 0,6300,0,123,"1A2B3C4",-95,-10,-65,10,3,"1A2B",0,90\r\n',
  '\r\nRDY\r\n\r\nAPP RDY\r\n> ',
  '\r\nERROR\r\n\r\n+CME ERROR: 10\r\n',
  '\r\n+QIOPEN: 0,0\r\n\r\n+QIACT: 1,1,1,"10.1.2.3"\r\n\r\n+CGPADDR: 1,10.1.2.3\r\n\r\n+CPIN: READY\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const bg96Rule = new DatagramIo({} as ModemConfig, {} as AtClient, pino({ level: 'silent' }), () => 'bg96', () => undefined).payloadRule();

function frame(chunks: Buffer[]): Token[] {
  const f = new AtFramer();
  f.setPayloadRule(bg96Rule);
  const out: Token[] = [];
  f.on('data', (t: Token) => out.push(t));
  for (const c of chunks) f.write(c);
  return out;
}

describe('fuzzing AT input', () => {
  it('frames every mutated or random byte stream without throwing and hears OK again afterwards', () => {
    const t = tally('AT framer (AtFramer + BG96 payload rule)');
    // BG96 carries at most 1460 bytes of UDP payload (2920 hex characters): a modem that keeps sending
    // "OK" must be understood again within that plus one line.
    const okFlood = Buffer.from('\r\nOK\r\n'.repeat(Math.ceil((2 * 1460 + 4096) / 6)), 'latin1');
    fc.assert(
      fc.property(inputArb(SAMPLES), fc.integer({ min: 1, max: 64 }), (b, split) => {
        const chunks: Buffer[] = [];
        for (let i = 0; i < b.length; i += split) chunks.push(b.subarray(i, i + split));
        const tokens = checkTyped(t, [], b, () => frame([...chunks, okFlood]))!;
        const lines = tokens.filter((x) => x.kind === 'line');
        expect(lines.some((x) => x.kind === 'line' && x.text === 'OK' && !x.payload), `framer wedged after ${b.toString('hex').slice(0, 200)}`).toBe(true);
      }),
      fcParams(),
    );
    expect(t.crashes).toBe(0);
  });

  it('parses every mutated or random line as a URC or an information response without throwing', () => {
    const t = tally('AT lines (parseUrc + parse.ts)');
    const lines = SAMPLES.flatMap((s) => s.toString('latin1').split(/\r\n/).filter(Boolean)).map((l) => Buffer.from(l, 'latin1'));
    fc.assert(
      fc.property(fc.oneof(inputArb(lines).map((b) => b.toString('latin1')), fc.string({ maxLength: 200 })), fc.option(fc.uint8Array({ maxLength: 64 })), (line, payload) => {
        checkTyped(t, [], line, () => {
          if (looksLikeUrc(line)) parseUrc(line, payload ? Buffer.from(payload) : undefined);
          parseUrc(line);
          parseCsq(line);
          parseCesq(line);
          parseCeregRead(line);
          parseQengBc66(line);
          parseQengBg96(line);
          parseCeLevel(line);
          parseQiact([line], 1);
          parseCgpaddr([line], 1);
          parseCpin([line]);
          parseRevision([line]);
          detectModel([line]);
        });
      }),
      fcParams(),
    );
    expect(t.crashes).toBe(0);
  });

  it('does not wait for a BG96 payload longer than a datagram (regression: a corrupted length wedged the framer)', () => {
    const tokens = frame([Buffer.from('\r\n+QIURC: "recv",0,999999999,"10.0.0.2",5683\r\nOK\r\n\r\nOK\r\n', 'latin1')]);
    expect(tokens.filter((x) => x.kind === 'line' && x.text === 'OK').length).toBeGreaterThan(0);
  });
});
