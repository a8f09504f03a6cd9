import { describe, expect, it } from 'vitest';
import type { DatagramTransport } from '../../../src/bearer/types.ts';
import { decodeBlock, encodeBlock } from '../../../src/coap/block.ts';
import { CONTENT, ContentFormat, GET, Opt, POST } from '../../../src/coap/codes.ts';
import { BlockwisePost } from '../../../src/coap/blockwise-post.ts';
import { encodeUint, type CoapOption } from '../../../src/coap/message.ts';
import type { Logger } from '../../../src/log.ts';
import type { CoapRequest, CoapResponse, Resource } from '../../../src/coap/server.ts';

const ANSWER = Buffer.from(Array.from({ length: 94 }, (_, i) => i));
const t: DatagramTransport = { name: 'lora', kind: 'lora', maxDatagram: 242, start: async () => {}, stop: async () => {}, send: async () => {}, onMessage: () => {}, maxPayloadFor: () => 32 };

function setup() {
  const seen: Buffer[] = [];
  const inner: Resource = {
    path: ['c'],
    linkAttrs: '',
    handle: (req): CoapResponse => {
      seen.push(req.msg.payload);
      if (req.msg.code === POST) expect(req.msg.options.some((o) => o.number === Opt.Block1 || o.number === Opt.Block2)).toBe(false);
      return { code: CONTENT, options: [{ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) }], payload: ANSWER };
    },
  };
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, m: string) => warnings.push(m) } as unknown as Logger;
  const bw = new BlockwisePost(inner, { maxBytes: () => 100, maxSzx: () => 6, monotonic: () => 0, log });
  const send = (options: CoapOption[], payload = Buffer.alloc(0), code = POST, address = 'dev1'): CoapResponse => {
    const req: CoapRequest = { msg: { type: 'CON', code, messageId: 1, token: Buffer.alloc(0), options, payload }, peer: { address, port: 20, bearer: 'lora' }, transport: t, rest: [] };
    return bw.handle(req)!;
  };
  return { seen, send, warnings };
}
const b1 = (num: number, more: boolean, szx = 1): CoapOption => ({ number: Opt.Block1, value: encodeBlock({ num, more, szx }) });
const b2 = (num: number, szx = 1): CoapOption => ({ number: Opt.Block2, value: encodeBlock({ num, more: false, szx }) });
const opt = (r: CoapResponse, n: number) => r.options?.find((o) => o.number === n)?.value;

describe('block-wise POST (Block1 up, Block2 answer)', () => {
  it('passes a v1 request without Block1/Block2 through untouched, even when the answer exceeds the peer limit', () => {
    const { seen, send, warnings } = setup();
    const r = send([], Buffer.from('body'));
    expect(warnings).toEqual([expect.stringMatching(/larger than this device's frames carry/)]);
    expect(r.payload).toEqual(ANSWER);
    expect(opt(r, Opt.Block2)).toBeUndefined();
    expect(seen).toEqual([Buffer.from('body')]);
  });

  it('answers 2.31 until the last Block1 block, hands the whole body over once, and serves the answer in Block2 blocks', () => {
    const { seen, send } = setup();
    const body = Buffer.alloc(70, 7);
    expect(send([b1(0, true)], body.subarray(0, 32)).code).toBe((2 << 5) | 31);
    expect(send([b1(1, true)], body.subarray(32, 64)).code).toBe((2 << 5) | 31);
    const first = send([b1(2, false)], body.subarray(64));
    expect(seen).toEqual([body]);
    expect(first.code).toBe(CONTENT);
    expect(decodeBlock(opt(first, Opt.Block1)!)).toEqual({ num: 2, more: false, szx: 1 });
    expect(decodeBlock(opt(first, Opt.Block2)!)).toEqual({ num: 0, more: true, szx: 1 });
    expect(opt(first, Opt.Size2)).toEqual(encodeUint(94));
    const parts = [first.payload!];
    for (let n = 1; n < 3; n++) {
      const r = send([b2(n)]);
      expect(decodeBlock(opt(r, Opt.Block2)!)).toEqual({ num: n, more: n < 2, szx: 1 });
      parts.push(r.payload!);
    }
    expect(Buffer.concat(parts)).toEqual(ANSWER);
    expect(seen).toHaveLength(1); // later answer blocks do not run the check-in again
  });

  it('refuses a Block1 block out of order, a body over the limit, and an answer block nobody holds', () => {
    const { seen, send } = setup();
    expect(send([b1(1, true)], Buffer.alloc(32)).code).toBe((4 << 5) | 8);
    expect(send([b1(0, true)], Buffer.alloc(20)).code).toBe((4 << 5) | 8); // a non-final block must be full
    for (let n = 0; n < 3; n++) send([b1(n, true)], Buffer.alloc(32));
    const big = send([b1(3, false)], Buffer.alloc(32));
    expect(big.code).toBe((4 << 5) | 13);
    expect(opt(big, Opt.Size1)).toEqual(encodeUint(100));
    expect(send([b2(1)], Buffer.alloc(0), POST, 'dev2').code).toBe((4 << 5) | 8);
    expect(send([b1(0, false, 7)], Buffer.alloc(3)).code).toBe((4 << 5) | 2);
    expect(seen).toHaveLength(0);
  });

  it('uses a smaller answer block when the device asks for one on its request', () => {
    const { send } = setup();
    const r = send([b2(0, 0)], Buffer.from('body'));
    expect(decodeBlock(opt(r, Opt.Block2)!)).toEqual({ num: 0, more: true, szx: 0 });
    expect(r.payload).toEqual(ANSWER.subarray(0, 16));
  });

  it('leaves other methods to the resource', () => {
    const { seen, send } = setup();
    send([b2(1)], Buffer.alloc(0), GET);
    expect(seen).toHaveLength(1);
  });
});
