import { describe, expect, it } from 'vitest';
import type { DatagramTransport } from '../../../src/bearer/types.ts';
import { decodeBlock, encodeBlock } from '../../../src/coap/block.ts';
import { CONTENT, ContentFormat, Opt, POST } from '../../../src/coap/codes.ts';
import { BlockwisePost } from '../../../src/coap/blockwise-post.ts';
import { encodeUint, type CoapOption } from '../../../src/coap/message.ts';
import type { Logger } from '../../../src/log.ts';
import type { CoapRequest, CoapResponse, Resource } from '../../../src/coap/server.ts';

/**
 * RFC 7959 §2.5 block size negotiation on block-wise POST: a LoRa device whose data rate drops (ADR)
 * in the middle of a check-in body is asked for smaller blocks in the next 2.31, and the gateway takes
 * the rest of the body in the smaller size (the C firmware follows such a 2.31: blockwise_test.c).
 */
function setup() {
  let limit = 64;
  const t: DatagramTransport = { name: 'lora', kind: 'lora', maxDatagram: 242, start: async () => {}, stop: async () => {}, send: async () => {}, onMessage: () => {}, maxPayloadFor: () => limit };
  const seen: Buffer[] = [];
  const inner: Resource = {
    path: ['c'],
    linkAttrs: '',
    handle: (req): CoapResponse => {
      seen.push(req.msg.payload);
      return { code: CONTENT, options: [{ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) }], payload: Buffer.from([0xa1, 0x01, 0x00]) };
    },
  };
  const log = { warn: () => undefined } as unknown as Logger;
  const bw = new BlockwisePost(inner, { maxBytes: () => 512, maxSzx: () => 6, monotonic: () => 0, log });
  const send = (num: number, more: boolean, szx: number, payload: Buffer): CoapResponse => {
    const options: CoapOption[] = [{ number: Opt.Block1, value: encodeBlock({ num, more, szx }) }];
    const req: CoapRequest = { msg: { type: 'CON', code: POST, messageId: num, token: Buffer.alloc(0), options, payload }, peer: { address: 'dev1', port: 20, bearer: 'lora' }, transport: t, rest: [] };
    return bw.handle(req)!;
  };
  return { seen, send, setLimit: (n: number) => (limit = n) };
}
const block1 = (r: CoapResponse) => decodeBlock(r.options!.find((o) => o.number === Opt.Block1)!.value);
const body = Buffer.from(Array.from({ length: 150 }, (_, i) => i));

describe('block-wise POST when the device must switch to smaller blocks mid-body', () => {
  it('asks for smaller blocks in the 2.31 once the peer carries less, and reassembles the body across the switch', () => {
    const { seen, send, setLimit } = setup();
    const first = send(0, true, 2, body.subarray(0, 64));
    expect(first.code).toBe((2 << 5) | 31);
    expect(block1(first)).toEqual({ num: 0, more: true, szx: 2 });
    setLimit(32); // ADR: DR3 → DR0
    const second = send(1, true, 2, body.subarray(64, 128));
    expect(block1(second)).toEqual({ num: 1, more: true, szx: 1 });
    // the device goes on after the 128 bytes taken, in 32-byte blocks: block 4 of 32
    const last = send(4, false, 1, body.subarray(128));
    expect(last.code).toBe(CONTENT);
    expect(block1(last)).toEqual({ num: 4, more: false, szx: 1 });
    expect(seen).toEqual([body]);
  });

  it('refuses a larger block after smaller ones with 4.08', () => {
    const { seen, send } = setup();
    expect(send(0, true, 1, body.subarray(0, 32)).code).toBe((2 << 5) | 31);
    expect(send(1, true, 1, body.subarray(32, 64)).code).toBe((2 << 5) | 31);
    expect(send(1, true, 2, body.subarray(64, 128)).code).toBe((4 << 5) | 8);
    expect(seen).toEqual([]);
  });

  it('keeps the block size a device uses when its frames still carry it', () => {
    const { seen, send } = setup();
    expect(block1(send(0, true, 2, body.subarray(0, 64)))).toEqual({ num: 0, more: true, szx: 2 });
    expect(block1(send(1, true, 2, body.subarray(64, 128)))).toEqual({ num: 1, more: true, szx: 2 });
    expect(send(2, false, 2, body.subarray(128)).code).toBe(CONTENT);
    expect(seen).toEqual([body]);
  });
});
