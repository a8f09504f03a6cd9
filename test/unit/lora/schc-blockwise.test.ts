import { generate } from 'coap-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SchcCompressor } from '../../../src/bearer/lora/schc/compressor.ts';
import { maxPayload } from '../../../src/bearer/lora/regional.ts';
import { FURROW_RULES } from '../../../src/bearer/lora/schc/rules.ts';

/**
 * The SCHC rules for block-wise POST /c and /r (PROTOCOL.md "Small frames"): each message shape of the
 * exchange, built as the C firmware (4-byte token) and the gateway build it, compresses under its rule,
 * comes back byte for byte, and with a 32-byte block fits a DR0 frame (51 bytes).
 */
const schc = new SchcCompressor();
const blockValue = (num: number, more: boolean, szx: number): Buffer => {
  const v = (num << 4) | (more ? 8 : 0) | szx;
  if (v === 0) return Buffer.alloc(0);
  if (v < 0x100) return Buffer.from([v]);
  if (v < 0x10000) return Buffer.from([v >> 8, v & 0xff]);
  return Buffer.from([v >> 16, (v >> 8) & 0xff, v & 0xff]);
};
const TOKEN = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
const CBOR = { name: 'Content-Format' as const, value: Buffer.from([60]) };
const TEXT = { name: 'Content-Format' as const, value: Buffer.alloc(0) };
const path = (p: string) => ({ name: 'Uri-Path' as const, value: Buffer.from(p) });
const opt = (name: 'Block1' | 'Block2' | 'Size2', value: Buffer) => ({ name, value });
type Options = NonNullable<Parameters<typeof generate>[0]['options']>;

const request = (options: Options, payload?: Buffer) => generate({ code: 'POST', confirmable: true, messageId: 0x4242, token: TOKEN, options, ...(payload ? { payload } : {}) });
const answer = (code: string, options: Options, payload?: Buffer) => generate({ code, ack: true, messageId: 0x4242, token: TOKEN, options, ...(payload ? { payload } : {}) });

const shapes: Array<{ what: string; dir: 'up' | 'down'; rule: number; coap: Buffer }> = [
  { what: 'a Block1 block of a check-in envelope', dir: 'up', rule: 12, coap: request([path('c'), CBOR, opt('Block1', blockValue(2, true, 1))], Buffer.alloc(32, 0x11)) },
  { what: 'the last Block1 block of a report', dir: 'up', rule: 12, coap: request([path('r'), CBOR, opt('Block1', blockValue(4, false, 1))], Buffer.alloc(7, 0x22)) },
  { what: 'a POST asking for answer block 2 (only Block2, no payload)', dir: 'up', rule: 13, coap: request([path('c'), opt('Block2', blockValue(2, false, 1))]) },
  { what: 'a one-datagram check-in asking for its answer in 32-byte blocks', dir: 'up', rule: 14, coap: request([path('c'), CBOR, opt('Block2', blockValue(0, false, 1))], Buffer.alloc(30, 0x33)) },
  { what: '2.31 Continue with Block1', dir: 'down', rule: 15, coap: answer('2.31', [opt('Block1', blockValue(3, true, 1))]) },
  { what: 'the first answer block after the last Block1 (Block2, Block1, Size2)', dir: 'down', rule: 16, coap: answer('2.05', [CBOR, opt('Block2', blockValue(0, true, 1)), opt('Block1', blockValue(3, false, 1)), opt('Size2', Buffer.from([94]))], Buffer.alloc(32, 0x44)) },
  { what: 'a later answer block (Block2)', dir: 'down', rule: 17, coap: answer('2.05', [CBOR, opt('Block2', blockValue(2, false, 1))], Buffer.alloc(30, 0x55)) },
  { what: 'the first answer block after a one-datagram POST (Block2, Size2)', dir: 'down', rule: 18, coap: answer('2.05', [CBOR, opt('Block2', blockValue(0, true, 1)), opt('Size2', Buffer.from([94]))], Buffer.alloc(32, 0x66)) },
  { what: '2.04 to the last block of a report', dir: 'down', rule: 19, coap: answer('2.04', [opt('Block1', blockValue(4, false, 1))]) },
  { what: 'a one-block 2.05 answer to the last Block1 (no update)', dir: 'down', rule: 20, coap: answer('2.05', [CBOR, opt('Block1', blockValue(3, false, 1))], Buffer.from([0xa2, 0x01, 0x00, 0x02, 0x19, 0x0e, 0x10])) },
  { what: '4.01 with the last accepted counter after the last block', dir: 'down', rule: 20, coap: answer('4.01', [CBOR, opt('Block1', blockValue(3, false, 1))], Buffer.from([0xa1, 0x01, 0x18, 0x64])) },
  { what: '4.08 for a block out of order (text diagnostic)', dir: 'down', rule: 21, coap: answer('4.08', [TEXT], Buffer.from('Block1 block 2 does not follow the 0 bytes received; start again at block 0')) },
];

describe('SCHC rules for block-wise POST /c and /r', () => {
  for (const s of shapes) {
    it(`compresses ${s.what} under rule ${s.rule} and restores it exactly`, () => {
      const c = schc.compress(s.coap, s.dir);
      expect(c.ruleId).toBe(s.rule);
      expect(schc.decompress(c, s.dir).equals(s.coap)).toBe(true);
      expect(c.data.length).toBeLessThan(s.coap.length);
      if (s.coap.length - 15 <= 32) expect(c.data.length).toBeLessThanOrEqual(maxPayload(0));
    });
  }

  it('carries a full 32-byte Block1 block from the firmware (4-byte token) in 41 bytes: 7 fewer than raw CoAP', () => {
    const raw = shapes[0]!.coap;
    const c = schc.compress(raw, 'up');
    expect(raw.length).toBe(48);
    expect(c.data.length).toBe(41);
  });

  it('compresses every block-wise shape for any block number, token and payload, and fits DR0 with a 2-byte token', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4095 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1 }),
        fc.uint8Array({ minLength: 0, maxLength: 8 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.constantFrom('c', 'r'),
        (num, more, szx, tok, mid, body, p) => {
          const token = Buffer.from(tok);
          const payload = Buffer.from(body);
          const b = (n: number, m: boolean) => blockValue(n, m, szx);
          const msgs: Array<[number, 'up' | 'down', Buffer]> = [
            [12, 'up', generate({ code: 'POST', confirmable: true, messageId: mid, token, options: [path(p), CBOR, opt('Block1', b(num, more))], payload })],
            [13, 'up', generate({ code: 'POST', confirmable: true, messageId: mid, token, options: [path(p), opt('Block2', b(num, false))] })],
            [15, 'down', generate({ code: '2.31', ack: true, messageId: mid, token, options: [opt('Block1', b(num, true))] })],
            [16, 'down', generate({ code: '2.05', ack: true, messageId: mid, token, options: [CBOR, opt('Block2', b(0, true)), opt('Block1', b(num, false)), opt('Size2', Buffer.from([1, num & 0xff]))], payload })],
            [17, 'down', generate({ code: '2.05', ack: true, messageId: mid, token, options: [CBOR, opt('Block2', b(num, more))], payload })],
            [19, 'down', generate({ code: '2.04', ack: true, messageId: mid, token, options: [opt('Block1', b(num, false))] })],
          ];
          for (const [rule, dir, coap] of msgs) {
            const c = schc.compress(coap, dir);
            expect(c.ruleId).toBe(rule);
            expect(schc.decompress(c, dir).equals(coap)).toBe(true);
            if (token.length <= 2) expect(c.data.length).toBeLessThanOrEqual(maxPayload(0));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not take a block-wise rule for a message in the other direction', () => {
    const up = shapes.find((s) => s.rule === 12)!.coap;
    expect(FURROW_RULES.find((r) => r.id === 15)!.direction).toBe('down');
    expect(schc.compress(up, 'down').ruleId).not.toBe(12);
    expect(() => schc.decompress({ ruleId: 16, data: Buffer.alloc(12) }, 'up')).toThrow(/does not apply to uplink/);
  });

  it('keeps rule ids unique and below 32 (FPorts fPortBase..fPortBase+31)', () => {
    const ids = FURROW_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.max(...ids)).toBeLessThan(32);
  });
});
