import { encode as cborEncode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { ContentError, decodeContent, encodeResource, Lwm2mFormat } from '../../../src/lwm2m/content.ts';
import { LinkFormatError, parseLinkFormat } from '../../../src/lwm2m/link-format.ts';
import { parsePath } from '../../../src/lwm2m/objects.ts';
import { buildPackage } from '../../../src/lwm2m/package.ts';
import { decodeSenmlCbor, decodeSenmlJson, SenmlError } from '../../../src/lwm2m/senml.ts';
import { decodeTlv, encodeTlv, intTlvValue, tlvInt, TlvError } from '../../../src/lwm2m/tlv.ts';
import { resultMeaning, UPDATE_RESULTS } from '../../../src/lwm2m/update-result.ts';

describe('CoRE link format (RFC 6690)', () => {
  it('reads a LwM2M 1.1 registration payload with quoted and token parameters', () => {
    const links = parseLinkFormat('</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.0,</3303/0>');
    expect(links.map((l) => l.uri)).toEqual(['/', '/1/0', '/3/0', '/5', '/3303/0']);
    expect(links[0]!.params.get('rt')).toBe('oma.lwm2m');
    expect(links[0]!.params.get('ct')).toBe('11543');
    expect(links[3]!.params.get('ver')).toBe('1.0');
  });

  it('keeps escaped quotes and commas inside a quoted value', () => {
    expect(parseLinkFormat('</a>;title="x\\"y,z";obs')[0]!.params).toEqual(new Map<string, string | true>([['title', 'x"y,z'], ['obs', true]]));
  });

  it.each([
    ['/1/0', /expected '<'/],
    ['</1/0', /without a closing/],
    ['</1/0>,', /trailing comma/],
    ['</1/0>;', /parameter name/],
    ['</1/0>;ver=', /no value/],
    ['</1/0>;t="abc', /unterminated/],
    ['</1/0> </3/0>', /expected ','/],
    ['</1/0>;a=1;a=2', /given twice/],
    ['<1 0>', /not allowed/],
  ])('refuses %j naming where it is wrong', (text, re) => {
    expect(() => parseLinkFormat(text)).toThrow(LinkFormatError);
    expect(() => parseLinkFormat(text)).toThrow(re);
  });
});

describe('TLV (Core §7.4.3)', () => {
  it('decodes the spec example of a Device object instance read', () => {
    // Core §7.4.3.2 example: /3/0 with Manufacturer, Model, Power Sources [1, 5]
    const b = Buffer.concat([
      Buffer.from([0xc8, 0x00, 0x14]), Buffer.from('Open Mobile Alliance'),
      Buffer.from([0xc8, 0x01, 0x16]), Buffer.from('Lightweight M2M Client'),
      Buffer.from([0x86, 0x06, 0x41, 0x00, 0x01, 0x41, 0x01, 0x05]),
    ]);
    const vals = decodeContent(Lwm2mFormat.Tlv, b, '/3/0');
    expect(vals).toEqual([
      { path: '/3/0/0', value: 'Open Mobile Alliance' },
      { path: '/3/0/1', value: 'Lightweight M2M Client' },
      { path: '/3/0/6/0', value: 1 },
      { path: '/3/0/6/1', value: 5 },
    ]);
  });

  it('reads an instance answer that comes wrapped in its Object Instance TLV, and refuses another instance', () => {
    const inner = [{ kind: 'resource' as const, id: 3, value: Buffer.from('1.0') }];
    expect(decodeContent(Lwm2mFormat.Tlv, encodeTlv([{ kind: 'instance', id: 0, children: inner }]), '/3/0')).toEqual([{ path: '/3/0/3', value: '1.0' }]);
    expect(() => decodeContent(Lwm2mFormat.Tlv, encodeTlv([{ kind: 'instance', id: 1, children: inner }]), '/3/0')).toThrow(ContentError);
  });

  it('round-trips nested entries, 16-bit identifiers and 24-bit lengths', () => {
    const entries = [{ kind: 'instance' as const, id: 300, children: [{ kind: 'resource' as const, id: 1, value: Buffer.alloc(70_000, 7) }, { kind: 'multiple' as const, id: 2, children: [{ kind: 'resourceInstance' as const, id: 0, value: Buffer.from([1]) }] }] }];
    expect(decodeTlv(encodeTlv(entries))).toEqual(entries);
  });

  it('encodes integers in the shortest of 1, 2, 4, 8 bytes and reads them back signed', () => {
    for (const n of [0, -1, 127, -128, 128, 32767, -32769, 2 ** 31 - 1, 2 ** 31, -(2 ** 40)]) expect(tlvInt(intTlvValue(n))).toBe(n);
    expect(intTlvValue(200).length).toBe(2);
    expect(() => tlvInt(Buffer.alloc(3))).toThrow(/1, 2, 4 or 8 bytes/);
  });

  it('refuses truncated entries and resources outside their instance', () => {
    expect(() => decodeTlv(Buffer.from([0xc8, 0x00, 0x14, 0x41]))).toThrow(TlvError);
    expect(() => decodeTlv(Buffer.from([0xc8]))).toThrow(/truncated/);
    expect(() => decodeTlv(Buffer.from([0x03, 0x00, 0x41, 0x00, 0x01]))).toThrow(/inside a instance/);
  });
});

describe('SenML (RFC 8428) JSON and CBOR', () => {
  it('resolves base names and the value fields', () => {
    const j = decodeSenmlJson(Buffer.from('[{"bn":"/3/0/","n":"0","vs":"ACME"},{"n":"9","v":87},{"n":"x","vb":true},{"n":"y","vd":"AQI"}]'));
    expect(j).toEqual([{ name: '/3/0/0', value: 'ACME' }, { name: '/3/0/9', value: 87 }, { name: '/3/0/x', value: true }, { name: '/3/0/y', value: Buffer.from([1, 2]) }]);
    const c = decodeSenmlCbor(Buffer.from(cborEncode([new Map<number, unknown>([[-2, '/5/0/'], [0, '3'], [2, 2]])])));
    expect(c).toEqual([{ name: '/5/0/3', value: 2 }]);
  });

  it('round-trips a written resource in both encodings', () => {
    for (const f of [Lwm2mFormat.SenmlJson, Lwm2mFormat.SenmlCbor]) {
      expect(decodeContent(f, encodeResource(f, '/5/0/1', 'coap://gw/fw/x'), '/5/0/1')).toEqual([{ path: '/5/0/1', value: 'coap://gw/fw/x' }]);
      expect(decodeContent(f, encodeResource(f, '/1/0/1', '300'), '/1/0/1')).toEqual([{ path: '/1/0/1', value: 300 }]);
    }
  });

  it.each([
    ['{"n":"a"}', /array/],
    ['[1]', /not a map/],
    ['[{"n":"a","v":1,"vs":"x"}]', /more than one value/],
    ['[{"n":"a","v":"1"}]', /v must be a number/],
    ['[{"n":"a","vd":"***"}]', /base64url/],
    ['[{"n":', /not JSON/],
  ])('refuses SenML-JSON %j', (text, re) => {
    expect(() => decodeSenmlJson(Buffer.from(text))).toThrow(SenmlError);
    expect(() => decodeSenmlJson(Buffer.from(text))).toThrow(re);
  });

  it('refuses a SenML name that is not a resource path', () => {
    expect(() => decodeContent(Lwm2mFormat.SenmlJson, Buffer.from('[{"n":"temp","v":1}]'), '/3/0')).toThrow(ContentError);
  });
});

describe('plain text and paths', () => {
  it('types a text value by the object model', () => {
    expect(decodeContent(Lwm2mFormat.Text, Buffer.from('3'), '/5/0/3')).toEqual([{ path: '/5/0/3', value: 3 }]);
    expect(decodeContent(Lwm2mFormat.Text, Buffer.from('1.2.3'), '/3/0/3')).toEqual([{ path: '/3/0/3', value: '1.2.3' }]);
    expect(() => decodeContent(Lwm2mFormat.Text, Buffer.from('x'), '/5/0/3')).toThrow(/not an integer/);
    expect(() => decodeContent(Lwm2mFormat.Text, Buffer.from('x'), '/3/0')).toThrow(/not a resource path/);
    expect(() => decodeContent(11543, Buffer.from('{}'), '/3/0')).toThrow(/not one furrow reads/);
  });

  it('refuses paths that are not 1..4 numeric identifiers below 65535', () => {
    expect(parsePath('/3/0/6/1')).toEqual([3, 0, 6, 1]);
    for (const p of ['3/0', '/3/a', '/3/0/1/2/3', '/65535', '/']) expect(() => parsePath(p)).toThrow(RangeError);
  });
});

describe('Object 5 results and packages', () => {
  it('gives every Update Result 1..11 a meaning; failures carry a class', () => {
    for (let r = 1; r <= 11; r++) expect(UPDATE_RESULTS[r], String(r)).toBeDefined();
    expect(resultMeaning(1).report).toBe('booted');
    expect(resultMeaning(11).report).toBeUndefined();
    for (const r of [2, 3, 4, 5, 6, 7, 8, 9, 10]) expect(resultMeaning(r).failureClass, String(r)).toBeDefined();
    expect(resultMeaning(99)).toMatchObject({ report: 'failed' });
  });

  it("wraps an image in the Anjay demo's 16-byte header with its CRC-32", () => {
    const img = Buffer.from('123456789');
    const p = buildPackage('anjay-demo', img);
    expect(p.subarray(0, 8).toString('latin1')).toBe('ANJAY_FW');
    expect(p.readUInt16BE(8)).toBe(1);
    expect(p.readUInt32BE(12)).toBe(0xcbf43926); // the CRC-32 check value of "123456789"
    expect(p.subarray(16)).toEqual(img);
    expect(buildPackage('image', img)).toBe(img);
  });
});
