import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { AtClient } from '../../../src/modem/at/client.ts';
import type { Urc } from '../../../src/modem/at/urc.ts';
import { AtCommandError, AtTimeoutError, PortClosedError } from '../../../src/modem/errors.ts';

/** A scripted modem on the other end of an in-memory stream: answers each command from a table. */
class FakeLine extends Duplex {
  readonly received: string[] = [];
  constructor(private readonly answer: (cmd: string, line: FakeLine) => void) {
    super();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const c of chunk.toString('latin1').split('\r')) {
      if (c) {
        this.received.push(c);
        this.answer(c, this);
      }
    }
    done();
  }
  say(s: string | Buffer): void {
    this.push(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }
}

const log = pino({ level: 'silent' });
let client: AtClient | undefined;
afterEach(() => client?.detach());

function setup(answer: (cmd: string, line: FakeLine) => void, quietMs = 50): { c: AtClient; line: FakeLine; urcs: Urc[] } {
  const line = new FakeLine(answer);
  const c = new AtClient(log, '/dev/fake', quietMs);
  client = c;
  const urcs: Urc[] = [];
  c.on('urc', (u) => urcs.push(u));
  c.attach(line);
  return { c, line, urcs };
}

describe('AT client', () => {
  it('returns information lines with OK and tolerates the echo', async () => {
    const { c } = setup((cmd, l) => l.say(`${cmd}\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n`));
    const r = await c.send({ command: 'AT+CSQ', timeoutMs: 500, expect: '+CSQ:' });
    expect(r).toEqual({ command: 'AT+CSQ', lines: [{ text: '+CSQ: 20,99' }], final: 'OK' });
  });

  it('rejects +CME ERROR with the code and its text', async () => {
    const { c } = setup((_cmd, l) => l.say('\r\n+CME ERROR: 10\r\n'));
    const err = await c.send({ command: 'AT+CPIN?', timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtCommandError);
    expect((err as AtCommandError).cme).toBe(10);
    expect((err as Error).message).toBe('modem answered AT+CPIN? with +CME ERROR: 10 (SIM not inserted)');
  });

  it('runs one command at a time, in order', async () => {
    const order: string[] = [];
    const { c } = setup((cmd, l) => {
      order.push(cmd);
      setTimeout(() => l.say(`\r\n${cmd}-done\r\nOK\r\n`), 10);
    });
    const rs = await Promise.all(['AT+A', 'AT+B', 'AT+C'].map((command) => c.send({ command, timeoutMs: 500 })));
    expect(order).toEqual(['AT+A', 'AT+B', 'AT+C']);
    expect(rs.map((r) => r.lines[0]!.text)).toEqual(['AT+A-done', 'AT+B-done', 'AT+C-done']);
  });

  it('times out without a final result and does not take the late OK as the next answer', async () => {
    const { c } = setup((cmd, l) => {
      if (cmd === 'AT+SLOW') setTimeout(() => l.say('\r\nOK\r\n'), 120);
      if (cmd === 'AT+CSQ') setTimeout(() => l.say('\r\n+CSQ: 7,99\r\n\r\nOK\r\n'), 100);
    }, 20);
    await expect(c.send({ command: 'AT+SLOW', timeoutMs: 50 })).rejects.toBeInstanceOf(AtTimeoutError);
    const r = await c.send({ command: 'AT+CSQ', timeoutMs: 500, expect: '+CSQ:' });
    expect(r.lines.map((l) => l.text)).toContain('+CSQ: 7,99');
    expect(c.consecutiveTimeouts).toBe(0);
  });

  it('writes the payload after the ">" prompt and waits for SEND OK', async () => {
    const { c, line } = setup((cmd, l) => {
      if (cmd.startsWith('AT+QISEND')) l.say('\r\n> ');
      else if (cmd === 'hi') l.say('\r\nSEND OK\r\n');
    });
    const r = await c.send({ command: 'AT+QISEND=0,2,"1.2.3.4",5', timeoutMs: 500, promptPayload: Buffer.from('hi'), finals: /^SEND OK$/, failFinals: /^SEND FAIL$/, okIsIntermediate: true });
    expect(r.final).toBe('SEND OK');
    expect(line.received).toEqual(['AT+QISEND=0,2,"1.2.3.4",5', 'hi']);
  });

  it('gives up on a prompt that does not come within the prompt time, long before the send timeout', async () => {
    const { c, line } = setup(() => undefined);
    const err = await c.send({ command: 'AT+QISEND=0,2,"1.2.3.4",5', timeoutMs: 120_000, promptTimeoutMs: 50, promptPayload: Buffer.from('hi') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtTimeoutError);
    expect((err as Error).message).toMatch(/within 50 ms \(waiting for the > prompt\)/);
    expect(line.received).toEqual(['AT+QISEND=0,2,"1.2.3.4",5']);
  });

  it('writes the payload once even if the prompt comes twice', async () => {
    const { c, line } = setup((cmd, l) => {
      if (cmd.startsWith('AT+QISEND')) l.say('\r\n> \r\n> ');
      else if (cmd === 'hi') setTimeout(() => l.say('\r\nSEND OK\r\n'), 20);
    });
    await c.send({ command: 'AT+QISEND=0,2,"1.2.3.4",5', timeoutMs: 500, promptPayload: Buffer.from('hi'), finals: /^SEND OK$/ });
    expect(line.received).toEqual(['AT+QISEND=0,2,"1.2.3.4",5', 'hi']);
  });

  it('waits after OK for the +QIOPEN result line', async () => {
    const { c } = setup((_cmd, l) => {
      l.say('\r\nOK\r\n');
      setTimeout(() => l.say('\r\n+QIOPEN: 0,0\r\n'), 20);
    });
    const r = await c.send({ command: 'AT+QIOPEN=1,0,"UDP SERVICE","127.0.0.1",0,5683,1', timeoutMs: 200, awaitAfterOk: { match: /^\+QIOPEN: 0,\d+/, timeoutMs: 500 } });
    expect(r.after).toBe('+QIOPEN: 0,0');
  });

  it('hands URCs that arrive in the middle of an answer to the URC listeners', async () => {
    const { c, urcs } = setup((_cmd, l) => l.say('\r\n+CESQ: 99,99,255,255,20,50\r\n\r\n+QIURC: "closed",0\r\n\r\nOK\r\n'));
    const r = await c.send({ command: 'AT+CESQ', timeoutMs: 500, expect: '+CESQ:' });
    expect(r.lines).toHaveLength(1);
    expect(urcs).toEqual([{ type: 'closed', connectId: 0 }]);
  });

  it('refuses new commands once the queue is full, naming the backlog', async () => {
    const line = new FakeLine(() => undefined);
    const c = new AtClient(log, '/dev/fake', 10, 2);
    client = c;
    c.attach(line);
    const waiting = [c.send({ command: 'AT+A', timeoutMs: 5000 }), c.send({ command: 'AT+B', timeoutMs: 5000 }), c.send({ command: 'AT+C', timeoutMs: 5000 })];
    await expect(c.send({ command: 'AT+D', timeoutMs: 5000 })).rejects.toThrow('2 AT commands already wait for the modem on /dev/fake; AT+D refused');
    c.detach();
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(PortClosedError);
  });

  it('fails every waiting command when the port goes away', async () => {
    const { c } = setup(() => undefined);
    const a = c.send({ command: 'AT', timeoutMs: 5000 });
    const b = c.send({ command: 'ATI', timeoutMs: 5000 });
    c.detach();
    await expect(a).rejects.toBeInstanceOf(PortClosedError);
    await expect(b).rejects.toThrow('serial port /dev/fake closed before ATI finished');
    await expect(c.send({ command: 'AT', timeoutMs: 10 })).rejects.toBeInstanceOf(PortClosedError);
  });
});

describe('AT client under line noise', () => {
  it('gets the same answers when non-printable noise is sprinkled anywhere in the stream', async () => {
    const { default: fc } = await import('fast-check');
    const answer = Buffer.from('\r\n+CESQ: 99,99,255,255,20,50\r\n\r\n+QIURC: "closed",1\r\n\r\nOK\r\n', 'latin1');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: answer.length }), fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a.map((b) => (b % 0x20 === 0x0d || b % 0x20 === 0x0a ? 0x01 : b % 0x20))))), { maxLength: 6 }),
        async (noise) => {
          const sorted = [...noise].sort((a, b) => b[0] - a[0]);
          let noisy = answer;
          for (const [at, bytes] of sorted) noisy = Buffer.concat([noisy.subarray(0, at), bytes, noisy.subarray(at)]);
          const { c, urcs } = setup((_cmd, l) => l.say(noisy));
          const r = await c.send({ command: 'AT+CESQ', timeoutMs: 500, expect: '+CESQ:' });
          expect(r.lines.map((l) => l.text)).toEqual(['+CESQ: 99,99,255,255,20,50']);
          expect(urcs).toEqual([{ type: 'closed', connectId: 1 }]);
          c.detach();
        },
      ),
      { numRuns: 60 },
    );
  });
});
