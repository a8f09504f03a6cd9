/**
 * The LoRa transfer plan books the frames the gateway really sends: at SF9 one byte more can be one
 * symbol group more, and a plan that is short books devices on top of each other. The block reply
 * headers are checked against replies built by the CoAP layer itself.
 */
import { describe, expect, it } from 'vitest';
import { encodeBlock } from '../../../src/coap/block.ts';
import { ContentFormat, GET, Opt } from '../../../src/coap/codes.ts';
import { encodeMessage, encodeUint } from '../../../src/coap/message.ts';
import { withoutLaterContentFormat } from '../../../src/coap/resources/patch.ts';
import { block2Reply } from '../../../src/coap/respond.ts';
import type { CoapRequest } from '../../../src/coap/server.ts';
import { loraLimits } from '../../../src/schedule/bearer-model.ts';
import { scheduleConfigSchema, type LoraBearerConfig } from '../../../src/schedule/config.ts';
import { loraTimeOnAirMs } from '../../../src/schedule/lora-airtime.ts';
import { BLOCK_REPLY_HEADER, FIRST_BLOCK_EXTRA, loraTransferPlan } from '../../../src/schedule/lora-plan.ts';

/** The datagram the server sends for block `num` (64 bytes) of a 1024-byte patch, to a device using 2-byte tokens. */
function blockDatagram(num: number, dutyCycled: boolean): Buffer {
  const token = Buffer.from([1, 2]);
  const req = {
    msg: { type: 'CON', code: GET, messageId: 1, token, options: [{ number: Opt.Block2, value: encodeBlock({ num, more: false, szx: 2 }) }], payload: Buffer.alloc(0) },
    peer: { address: '127.0.0.1', port: 1, bearer: 'lora' },
    rest: [],
  } as unknown as CoapRequest;
  const out = block2Reply(req, Buffer.alloc(1024, 7), { contentFormat: ContentFormat.OctetStream, etag: Buffer.alloc(8, 9), maxSzx: 2, block: { num, more: false, szx: 2 } });
  if (dutyCycled) withoutLaterContentFormat(out.res, out.offset);
  return encodeMessage({ type: 'ACK', code: out.res.code, messageId: 1, token, options: out.res.options ?? [], payload: out.res.payload ?? Buffer.alloc(0) });
}

const sf9 = scheduleConfigSchema.parse({ bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 9, maxConcurrentTransfers: 2 } } }).bearers.lora as LoraBearerConfig;

describe('LoRa transfer plan', () => {
  it('counts the block header the server sends on a duty cycle: later blocks, then block 0', () => {
    expect(blockDatagram(5, true).length - 64).toBe(BLOCK_REPLY_HEADER);
    expect(blockDatagram(0, true).length - 64).toBe(BLOCK_REPLY_HEADER + FIRST_BLOCK_EXTRA);
    // With Content-Format on every block (no duty cycle) later blocks are a byte longer: 2 bytes of
    // option, less the Block2 delta extension byte it saves.
    expect(blockDatagram(5, false).length - 64).toBe(BLOCK_REPLY_HEADER + 1);
  });

  it("books the patch's blocks at their real time on air", () => {
    const lim = loraLimits(sf9);
    const withPatch = loraTransferPlan(sf9, lim, 1024);
    const without = loraTransferPlan(sf9, lim, 64);
    const frame = (n: number) => loraTimeOnAirMs(lim.radio, n + sf9.frameOverheadBytes);
    // 1024 bytes are 16 blocks: block 0 (with Content-Format and Size2) plus 15 later ones; 64 bytes are block 0 only.
    expect(withPatch.blocks - without.blocks).toBe(15);
    expect(withPatch.airtimeMs - without.airtimeMs).toBeCloseTo(15 * frame(blockDatagram(5, true).length), 6);
    expect(withPatch.laneMs).toBeCloseTo((2 * withPatch.airtimeMs) / (lim.dutyCycle * (1 - sf9.controlReservePercent / 100)), 6);
  });
});
