import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { decodeMessage, decodeUint, encodeMessage, encodeUint, MessageFormatError } from '../../../src/coap/message.ts';

describe('CoAP message codec (RFC 7252 §3)', () => {
  const get = generate({ confirmable: true, code: 'GET', messageId: 0x1234, token: Buffer.from([9, 8]), options: [{ name: 'Uri-Path', value: Buffer.from('p') }, { name: 'Block2', value: Buffer.from([0x16]) }] });

  it('decodes type, code, message ID, token and options by number', () => {
    const m = decodeMessage(get);
    expect(m).toMatchObject({ type: 'CON', code: 1, messageId: 0x1234, token: Buffer.from([9, 8]) });
    expect(m.options.map((o) => o.number)).toEqual([11, 23]);
  });

  it('encodes a piggybacked response with the payload after a marker', () => {
    const bytes = encodeMessage({ type: 'ACK', code: 0x45, messageId: 7, token: Buffer.from([1]), options: [{ number: 4, value: Buffer.from('abcdefgh') }], payload: Buffer.from([0xff, 0, 1]) });
    const back = decodeMessage(bytes);
    expect(back).toMatchObject({ type: 'ACK', code: 0x45, messageId: 7 });
    expect(back.payload).toEqual(Buffer.from([0xff, 0, 1]));
    expect(back.options[0]!.value.toString()).toBe('abcdefgh');
  });

  it.each([
    ['a short datagram', Buffer.from([0x40, 1])],
    ['version 2', Buffer.from([0x80, 1, 0, 0])],
    ['a reserved token length', Buffer.from([0x49, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
    ['a token cut short', Buffer.from([0x44, 1, 0, 0, 1])],
    ['a payload marker with no payload', Buffer.from([0x40, 1, 0, 0, 0xff])],
    ['an option running past the end', Buffer.from([0x40, 1, 0, 0, 0xb5, 0x61])],
    ['option delta 15', Buffer.from([0x40, 1, 0, 0, 0xf1, 0])],
    ['an Empty message with a payload', Buffer.from([0x40, 0, 0, 0, 0xff, 1])],
  ])('refuses %s as a format error', (_what, bytes) => {
    expect(() => decodeMessage(bytes)).toThrow(MessageFormatError);
  });

  it('encodes uint options without leading zero bytes', () => {
    expect(encodeUint(0).length).toBe(0);
    expect(encodeUint(255)).toEqual(Buffer.from([255]));
    expect(encodeUint(65_292)).toEqual(Buffer.from([0xff, 0x0c]));
    expect(decodeUint(encodeUint(16_777_216))).toBe(16_777_216);
  });
});
