import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AtFramer, type PayloadRule, type Token } from '../../../src/modem/at/framer.ts';

function frame(chunks: Array<string | Buffer>, rule?: PayloadRule): Token[] {
  const f = new AtFramer();
  f.setPayloadRule(rule);
  const out: Token[] = [];
  f.on('data', (t: Token) => out.push(t));
  for (const c of chunks) f.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  return out;
}

const lines = (ts: Token[]) => ts.filter((t) => t.kind !== 'garbage').map((t) => (t.kind === 'line' ? t.text : '<prompt>'));

describe('AT framer', () => {
  it('splits CRLF-framed lines and skips the empty ones', () => {
    expect(lines(frame(['\r\n+CSQ: 20,99\r\n\r\nOK\r\n']))).toEqual(['+CSQ: 20,99', 'OK']);
  });

  it('joins a line that arrives in pieces', () => {
    expect(lines(frame(['\r\n+CE', 'REG: 2,1', '\r', '\nOK\r\n']))).toEqual(['+CEREG: 2,1', 'OK']);
  });

  it('accepts bare CR or LF line ends (seen after a modem reset)', () => {
    expect(lines(frame(['RDY\rOK\nERROR\r\n']))).toEqual(['RDY', 'OK', 'ERROR']);
  });

  it('emits the send prompt with and without the trailing space', () => {
    expect(frame(['\r\n> '])).toEqual([{ kind: 'prompt' }]);
    expect(frame(['>'])).toEqual([{ kind: 'prompt' }]);
  });

  it('recognises the prompt even with line noise right before it (regression: the modem then ate the next command as payload)', () => {
    const ts = frame([Buffer.from([0x0d, 0x0a, 0x7f, 0x13]), Buffer.from('> ')]);
    expect(ts.map((t) => t.kind)).toEqual(['garbage', 'prompt']);
  });

  it('reports garbage bytes and keeps the printable part of the line', () => {
    const ts = frame([Buffer.from([0x00, 0xff, 0x4f, 0x4b, 0x0d, 0x0a])]);
    expect(ts[0]).toMatchObject({ kind: 'garbage', bytes: 2 });
    expect(lines(ts)).toEqual(['OK']);
  });

  it('drops an endless line without a line end instead of growing forever', () => {
    const ts = frame(['A'.repeat(5000)]);
    expect(ts).toEqual([expect.objectContaining({ kind: 'garbage', bytes: 5000 })]);
  });

  it('takes the payload after a header by length, even when it contains CR, LF and "OK"', () => {
    const rule: PayloadRule = (l) => (l.startsWith('+QIURC: "recv"') ? 6 : undefined);
    const ts = frame(['\r\n+QIURC: "recv",0,6,"1.2.3.4",5\r\n', Buffer.from('\r\nOK\r\n'), '\r\nOK\r\n'], rule);
    expect(ts[0]).toEqual({ kind: 'line', text: '+QIURC: "recv",0,6,"1.2.3.4",5', payload: Buffer.from('\r\nOK\r\n') });
    expect(lines(ts)).toEqual(['+QIURC: "recv",0,6,"1.2.3.4",5', 'OK']);
  });

  it('gives the same tokens however the byte stream is chopped up', () => {
    const stream = Buffer.from('\r\nATI\r\r\nQuectel\r\nBG96\r\n\r\nOK\r\n\r\n+QIURC: "recv",0,4,"10.0.0.9",7\r\nA\r\nB\r\n> \r\nSEND OK\r\n', 'latin1');
    const rule: PayloadRule = (l) => (l.startsWith('+QIURC') ? 4 : undefined);
    const whole = frame([stream], rule);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parts: Buffer[] = [];
        let prev = 0;
        for (const p of points) {
          parts.push(stream.subarray(prev, p));
          prev = p;
        }
        parts.push(stream.subarray(prev));
        const got = frame(parts, rule);
        expect(lines(got)).toEqual(lines(whole));
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        frame(chunks.map((c) => Buffer.from(c)), (l) => (l.startsWith('+QIRD:') ? 3 : undefined));
      }),
      { numRuns: 300 },
    );
  });
});

describe('AT framer with a bogus payload header', () => {
  it('gives up on a payload that never completes and parses the following lines again', async () => {
    const f = new AtFramer();
    f.setPayloadRule((l) => (l.startsWith('+QIRD:') ? 1000 : undefined));
    const out: Token[] = [];
    f.on('data', (t: Token) => out.push(t));
    f.write(Buffer.from('\r\n+QIRD: 500,"1.2.3.4",9\r\n'));
    f.write(Buffer.from('\r\nOK\r\n'));
    expect(lines(out)).toEqual([]);
    const realNow = Date.now;
    Date.now = () => realNow() + 2500;
    try {
      f.write(Buffer.from('\r\n+CSQ: 5,99\r\n'));
    } finally {
      Date.now = realNow;
    }
    expect(lines(out)).toEqual(['+QIRD: 500,"1.2.3.4",9', 'OK', '+CSQ: 5,99']);
  });
});
