/**
 * The Registration interface over real UDP, with a raw CoAP client that sends exactly the bytes a test
 * wants: allow-list refusals, every bad Register input, Update/De-register, queue mode holding a request
 * until the next Update, and registrations that survive a reopen of the database file.
 */
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { codeString } from '../../src/coap/codes.ts';
import { decodeMessage, encodeMessage, encodeUint, type CoapMessage, type CoapOption } from '../../src/coap/message.ts';
import { Lwm2mFormat } from '../../src/lwm2m/content.ts';
import { openDatabase } from '../../src/store/database.ts';
import { Lwm2mRepo } from '../../src/store/lwm2m.ts';
import { encodeTlv } from '../../src/lwm2m/tlv.ts';
import { startLwm2mHarness, type Lwm2mHarness } from '../helpers/lwm2m-harness.ts';
import { tempDir } from '../helpers/tmp.ts';

const LINKS = '</>;rt="oma.lwm2m",</1/0>,</3/0>,</5/0>';

class RawClient {
  private mid = 100;
  readonly inbox: CoapMessage[] = [];
  private waiters: Array<(m: CoapMessage) => void> = [];
  constructor(
    readonly sock: Socket,
    private readonly port: number,
  ) {
    sock.on('message', (b) => {
      const m = decodeMessage(b);
      const w = this.waiters.shift();
      if (w) w(m);
      else this.inbox.push(m);
    });
  }
  static async open(port: number): Promise<RawClient> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new RawClient(s, port);
  }
  next(timeoutMs = 3000): Promise<CoapMessage> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const w = (x: CoapMessage) => (clearTimeout(t), resolve(x));
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error('no datagram'));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
  send(m: CoapMessage): void {
    this.sock.send(encodeMessage(m), this.port, '127.0.0.1');
  }
  async request(code: number, path: string[], query: string[], payload = '', extra: CoapOption[] = []): Promise<CoapMessage> {
    const opts: CoapOption[] = [...path.map((p) => ({ number: 11, value: Buffer.from(p) })), ...extra, ...query.map((q) => ({ number: 15, value: Buffer.from(q) }))].sort((a, b) => a.number - b.number);
    this.send({ type: 'CON', code, messageId: ++this.mid, token: Buffer.from([this.mid & 0xff]), options: opts, payload: Buffer.from(payload) });
    return this.next();
  }
  close(): void {
    this.sock.close();
  }
}

const text = (m: CoapMessage) => m.payload.toString('utf8');

describe('LwM2M registration interface', () => {
  let h: Lwm2mHarness | undefined;
  let c: RawClient | undefined;
  afterEach(async () => {
    c?.close();
    await h?.stop();
    h = c = undefined;
  });

  it('refuses an endpoint that is not in the allow-list with 4.03 and counts it', async () => {
    h = await startLwm2mHarness({ endpoints: { good: { product: 'p' } } });
    c = await RawClient.open(h.port);
    const r = await c.request(2, ['rd'], ['ep=intruder', 'lt=60'], LINKS);
    expect(codeString(r.code)).toBe('4.03');
    expect(text(r)).toMatch(/intruder is not allowed/);
    expect(h.reg.stats.refusedUnknown).toBe(1);
    expect(h.repo.list()).toEqual([]);
  });

  it.each([
    [['lt=60'], LINKS, [], '4.00', /needs ep=/],
    [['ep=good', 'lt=abc'], LINKS, [], '4.00', /lt must be a number/],
    [['ep=good', 'lt=5'], LINKS, [], '4.00', /outside the accepted 30\.\./],
    [['ep=good', 'lwm2m=2.0'], LINKS, [], '4.00', /not a version/],
    [['ep=good', 'b=X'], LINKS, [], '4.00', /not an LwM2M binding/],
    [['ep=good', 'b=S'], LINKS, [], '4.00', /no UDP/],
    [['ep=good', 'ep=good'], LINKS, [], '4.00', /given twice/],
    [['ep=good'], '', [], '4.00', /needs the CoRE link list/],
    [['ep=good'], '</1/0>,', [], '4.00', /trailing comma at offset 7/],
    [['ep=good'], '<//evil>;', [], '4.00', /parameter name/],
    [['ep=good'], LINKS, [{ number: 12, value: encodeUint(60) }], '4.15', /not application\/link-format/],
    [['ep=good'], `</1/0>,${'</3/0>,'.repeat(180)}</5/0>`, [], '4.13', /exceeds 1024/],
  ])('refuses Register %j with %j: %s', async (query, payload, extra, code, re) => {
    h = await startLwm2mHarness({ endpoints: { good: { product: 'p' } } });
    c = await RawClient.open(h.port);
    const r = await c.request(2, ['rd'], query, payload, extra);
    expect(codeString(r.code)).toBe(code);
    expect(text(r)).toMatch(re);
    expect(h.repo.list()).toEqual([]);
  });

  it('registers (2.01 + Location-Path), updates (2.04), refuses an unknown location (4.04) and de-registers (2.02)', async () => {
    h = await startLwm2mHarness({ endpoints: { good: { product: 'p' } } });
    c = await RawClient.open(h.port);
    const r = await c.request(2, ['rd'], ['ep=good', 'lt=120', 'lwm2m=1.1', 'b=U'], LINKS, [{ number: 12, value: encodeUint(40) }]);
    expect(codeString(r.code)).toBe('2.01');
    const loc = r.options.filter((o) => o.number === 8).map((o) => o.value.toString());
    expect(loc[0]).toBe('rd');
    const stored = h.repo.byEndpoint('good')!;
    expect(stored).toMatchObject({ location: loc[1], lifetime: 120, version: '1.1', binding: 'U', queueMode: false });
    const before = stored.expiresAt;
    await new Promise((res) => setTimeout(res, 5));
    expect(codeString((await c.request(2, ['rd', loc[1]!], ['lt=300'])).code)).toBe('2.04');
    expect(h.repo.byEndpoint('good')).toMatchObject({ lifetime: 300 });
    expect(h.repo.byEndpoint('good')!.expiresAt).toBeGreaterThan(before);
    expect(codeString((await c.request(2, ['rd', loc[1]!], ['ep=other'])).code)).toBe('4.00');
    expect(codeString((await c.request(2, ['rd', 'nosuchloc'], [])).code)).toBe('4.04');
    expect(codeString((await c.request(4, ['rd', loc[1]!], [])).code)).toBe('2.02');
    expect(h.repo.list()).toEqual([]);
    expect(h.reg.stats).toMatchObject({ registers: 1, updates: 1, deregisters: 1 });
  });

  it('holds a Read to a sleeping queue-mode client until its next Update, then sends it', async () => {
    h = await startLwm2mHarness({ endpoints: { sleepy: { product: 'p' } } }, { awakeMs: 50 });
    c = await RawClient.open(h.port);
    const r = await c.request(2, ['rd'], ['ep=sleepy', 'lt=60', 'b=UQ'], LINKS);
    const loc = r.options.filter((o) => o.number === 8)[1]!.value.toString();
    expect(h.repo.byEndpoint('sleepy')!.queueMode).toBe(true);
    await new Promise((res) => setTimeout(res, 120)); // asleep now
    const read = h.dm.read('sleepy', '/3/0/3', Lwm2mFormat.Tlv);
    await expect(c.next(300)).rejects.toThrow(/no datagram/); // nothing sent while it sleeps
    expect(h.dm.stats.held).toBe(1);
    // The Update wakes it: the held Read follows the 2.04.
    const upd = encodeMessage({ type: 'CON', code: 2, messageId: 900, token: Buffer.from([9]), options: [{ number: 11, value: Buffer.from('rd') }, { number: 11, value: Buffer.from(loc) }], payload: Buffer.alloc(0) });
    c.sock.send(upd, h.port, '127.0.0.1');
    const got = [await c.next(), await c.next()];
    const req = got.find((m) => m.code === 1)!;
    expect(got.find((m) => m.code !== 1)!.code).toBe(0x44);
    expect(req.options.filter((o) => o.number === 11).map((o) => o.value.toString())).toEqual(['3', '0', '3']);
    c.send({ type: 'ACK', code: 0x45, messageId: req.messageId, token: req.token, options: [{ number: 12, value: encodeUint(11542) }], payload: encodeTlv([{ kind: 'resource', id: 3, value: Buffer.from('2.0.1') }]) });
    expect(await read).toEqual([{ path: '/3/0/3', value: '2.0.1' }]);
  });

  it('keeps registrations in the database file across a reopen and expires them by lifetime', () => {
    const tmp = tempDir('furrow-lwm2m-store-');
    try {
      const file = join(tmp.dir, 'furrow.db');
      let db = openDatabase(file);
      new Lwm2mRepo(db).register({ location: 'L1', endpoint: 'e1', lifetime: 60, version: '1.1', binding: 'U', queueMode: false, objects: LINKS, address: '10.0.0.5', port: 5683, bearer: 'udp', registeredAt: 1000, updatedAt: 1000, expiresAt: 61_000 });
      db.close();
      db = openDatabase(file);
      const repo = new Lwm2mRepo(db);
      expect(repo.byLocation('L1')).toMatchObject({ endpoint: 'e1', address: '10.0.0.5', objects: LINKS });
      expect(repo.expire(60_999)).toEqual([]);
      expect(repo.expire(61_000)).toEqual(['e1']);
      expect(repo.list()).toEqual([]);
      db.close();
    } finally {
      tmp.cleanup();
    }
  });
});
