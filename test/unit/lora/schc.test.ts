import { generate } from 'coap-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SchcCompressor, SchcError } from '../../../src/bearer/lora/schc/compressor.ts';
import { parseCoap, serializeCoap } from '../../../src/bearer/lora/schc/coap-message.ts';
import { blockSzxForDr, maxPayload } from '../../../src/bearer/lora/regional.ts';
import { FURROW_RULES, MAX_BLOCK_OVERHEAD } from '../../../src/bearer/lora/schc/rules.ts';

const schc = new SchcCompressor();
const block2 = (num: number, more: boolean, szx: number): Buffer => {
  const v = (num << 4) | (more ? 8 : 0) | szx;
  if (v === 0) return Buffer.alloc(0);
  if (v < 0x100) return Buffer.from([v]);
  if (v < 0x10000) return Buffer.from([v >> 8, v & 0xff]);
  return Buffer.from([v >> 16, (v >> 8) & 0xff, v & 0xff]);
};

describe('SCHC CoAP compression', () => {
  it('compresses a patch block GET to a handful of bytes and restores it exactly', () => {
    const get = generate({
      code: 'GET',
      messageId: 0x1234,
      token: Buffer.from([0xab, 0xcd]),
      confirmable: true,
      options: [
        { name: 'Uri-Path', value: Buffer.from('p') },
        { name: 'Uri-Path', value: Buffer.from('3f9a01') },
        { name: 'Block2', value: block2(17, false, 1) },
      ],
    });
    const c = schc.compress(get, 'up');
    expect(c.ruleId).toBe(3);
    // 17 bytes of CoAP become 13: the 6-character path token and the MID dominate what is left.
    expect(c.data.length).toBeLessThanOrEqual(get.length - 4);
    expect(schc.decompress(c, 'up').equals(get)).toBe(true);
  });

  it('fits a 32-byte block response with a 2-byte token into one DR0 frame', () => {
    const resp = generate({
      code: '2.05',
      messageId: 0xbeef,
      ack: true,
      token: Buffer.from([1, 2]),
      options: [
        { name: 'ETag', value: Buffer.from('0123456789abcdef', 'hex') },
        { name: 'Block2', value: block2(4000, true, 1) },
      ],
      payload: Buffer.alloc(32, 0x5a),
    });
    const c = schc.compress(resp, 'down');
    expect(c.ruleId).toBe(5);
    expect(c.data.length).toBeLessThanOrEqual(maxPayload(0));
    expect(schc.decompress(c, 'down').equals(resp)).toBe(true);
  });

  it('picks block sizes that keep the worst-case block inside the EU868 frame limits', () => {
    expect([0, 1, 2, 3, 4, 5].map((dr) => 16 << blockSzxForDr(dr, MAX_BLOCK_OVERHEAD))).toEqual([32, 32, 32, 64, 128, 128]);
    const first = generate({
      code: '2.05', messageId: 1, ack: true, token: Buffer.from([9, 9]),
      options: [
        { name: 'ETag', value: Buffer.alloc(8, 1) },
        { name: 'Block2', value: block2(0, true, 1) },
        { name: 'Size2', value: Buffer.from([0x12, 0x34, 0x56]) },
      ],
      payload: Buffer.alloc(32, 1),
    });
    const c = schc.compress(first, 'down');
    expect(c.ruleId).toBe(6);
    expect(c.data.length).toBeLessThanOrEqual(51);
  });

  it('sends a message no rule fits under the no-compression rule, unchanged', () => {
    const odd = generate({ code: 'PUT', messageId: 5, token: Buffer.alloc(0), options: [{ name: 'Uri-Path', value: Buffer.from('x') }] });
    const c = schc.compress(odd, 'up');
    expect(c.ruleId).toBe(0);
    expect(c.data.equals(odd)).toBe(true);
    expect(schc.decompress(c, 'up').equals(odd)).toBe(true);
  });

  it('passes a malformed CoAP message through uncompressed instead of guessing', () => {
    const truncated = Buffer.from([0x42, 0x01, 0x00, 0x01, 0xaa]); // TKL 2, one token byte
    const c = schc.compress(truncated, 'up');
    expect(c.ruleId).toBe(0);
    expect(c.data.equals(truncated)).toBe(true);
  });

  it('round-trips any well-formed CoAP message through compress and decompress', () => {
    fc.assert(
      fc.property(
        fc.record({
          type: fc.integer({ min: 0, max: 3 }),
          code: fc.constantFrom(0x01, 0x02, 0x44, 0x45, 0x5f, 0x81, 0x84, 0x88, 0x8d, 0xa3),
          messageId: fc.integer({ min: 0, max: 0xffff }),
          token: fc.uint8Array({ maxLength: 8 }),
          options: fc.array(fc.record({ number: fc.constantFrom(4, 11, 12, 14, 23, 27, 28), value: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 5 }),
          payload: fc.uint8Array({ maxLength: 64 }),
          dir: fc.constantFrom('up' as const, 'down' as const),
        }),
        (r) => {
          const options = [...r.options].sort((a, b) => a.number - b.number).map((o) => ({ number: o.number, value: Buffer.from(o.value) }));
          const coap = serializeCoap({ version: 1, type: r.type, code: r.code, messageId: r.messageId, token: Buffer.from(r.token), options, payload: Buffer.from(r.payload) });
          const c = schc.compress(coap, r.dir);
          expect(schc.decompress(c, r.dir).equals(coap)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses an unknown rule and a truncated residue with the rule named', () => {
    expect(() => schc.decompress({ ruleId: 99, data: Buffer.from([1]) }, 'up')).toThrow(/rule 99 is not in the furrow context/);
    expect(() => schc.decompress({ ruleId: 5, data: Buffer.from([0x12]) }, 'down')).toThrow(SchcError);
    expect(() => schc.decompress({ ruleId: 5, data: Buffer.from([0x12]) }, 'down')).toThrow(/rule 5/);
    expect(() => schc.decompress({ ruleId: 2, data: Buffer.alloc(10) }, 'down')).toThrow(/does not apply to downlink/);
  });

  it('answers random frames on any rule with a decoded message or a SchcError, nothing else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Math.max(...FURROW_RULES.map((r) => r.id)) + 1 }), fc.uint8Array({ maxLength: 60 }), fc.constantFrom('up' as const, 'down' as const), (ruleId, data, dir) => {
        try {
          const coap = schc.decompress({ ruleId, data: Buffer.from(data) }, dir);
          // Rule 0 passes bytes through (the CoAP layer judges them); any other rule builds valid CoAP.
          if (ruleId !== 0) expect(() => parseCoap(coap)).not.toThrow();
        } catch (err) {
          expect(err).toBeInstanceOf(SchcError);
        }
      }),
      { numRuns: 800 },
    );
  });

  it('parses its own serialisation back to the same fields', () => {
    const m = parseCoap(Buffer.from([0x42, 0x45, 0x12, 0x34, 0xaa, 0xbb, 0xff, 0x01]));
    expect(m).toMatchObject({ type: 0, code: 0x45, messageId: 0x1234 });
    expect(serializeCoap(m).equals(Buffer.from([0x42, 0x45, 0x12, 0x34, 0xaa, 0xbb, 0xff, 0x01]))).toBe(true);
  });
});
