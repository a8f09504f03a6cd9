/**
 * A TypeScript device for the CoAP tests: CON requests with retransmission, Block2 downloads from any
 * offset, the check-in/report envelope with MAC and counter, and named misbehaviours (`dropRate` on
 * requests and replies, `stopAfterBlocks`).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { encodeEnvelope } from '../../src/coap/auth.ts';
import { decodeBlock, encodeBlock } from '../../src/coap/block.ts';
import { decodeCbor, uint } from '../../src/manifest/cbor.ts';

export interface Reply {
  code: string;
  payload: Buffer;
  options: Map<string, Buffer>;
}

export interface DeviceOptions {
  port: number;
  host?: string;
  id: string;
  key: Buffer;
  /** Probability that a request or a reply is lost. */
  dropRate?: number;
  /** ACK timeout before a retransmission (ms). */
  ackTimeoutMs?: number;
  maxRetransmit?: number;
  random?: () => number;
}

export class TestDevice {
  private sock: dgram.Socket | undefined;
  private mid = Math.floor(Math.random() * 0xffff);
  private pending = new Map<number, (p: ParsedPacket) => void>();
  counter = 0;
  sent = 0;
  retransmissions = 0;

  constructor(readonly o: DeviceOptions) {}

  async open(): Promise<void> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.on('message', (buf) => {
      if (this.drop()) return;
      let p: ParsedPacket;
      try {
        p = parse(buf);
      } catch {
        return;
      }
      this.pending.get(p.messageId)?.(p);
    });
    this.sock = s;
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }

  private drop(): boolean {
    return (this.o.dropRate ?? 0) > 0 && (this.o.random ?? Math.random)() < this.o.dropRate!;
  }

  /** One confirmable request, retransmitted per RFC 7252 §4.2 (shortened timeouts for tests). */
  async request(method: 'GET' | 'POST', path: string, opts: { payload?: Buffer; block2?: { num: number; szx: number }; size2?: boolean } = {}): Promise<Reply> {
    const sock = this.sock;
    if (!sock) throw new Error('device not open');
    this.mid = (this.mid + 1) & 0xffff;
    const mid = this.mid;
    const options: Array<{ name: string; value: Buffer }> = path.split('/').filter(Boolean).map((seg) => ({ name: 'Uri-Path', value: Buffer.from(seg) }));
    if (opts.payload) options.push({ name: 'Content-Format', value: Buffer.from([60]) });
    if (opts.block2) options.push({ name: 'Block2', value: encodeBlock({ num: opts.block2.num, more: false, szx: opts.block2.szx }) });
    if (opts.size2) options.push({ name: 'Size2', value: Buffer.alloc(0) });
    const bytes = generate({ confirmable: true, code: method, messageId: mid, token: randomBytes(4), options, payload: opts.payload ?? Buffer.alloc(0) });
    const timeout = this.o.ackTimeoutMs ?? 100;
    const max = this.o.maxRetransmit ?? 8;
    return new Promise<Reply>((resolve, reject) => {
      let attempt = 0;
      let timer: NodeJS.Timeout;
      const fire = () => {
        if (attempt > max) {
          this.pending.delete(mid);
          reject(new Error(`no reply to ${method} /${path} after ${max} retransmissions`));
          return;
        }
        if (attempt > 0) this.retransmissions++;
        attempt++;
        this.sent++;
        if (!this.drop()) sock.send(bytes, this.o.port, this.o.host ?? '127.0.0.1');
        timer = setTimeout(fire, timeout * Math.min(8, 2 ** (attempt - 1)));
      };
      this.pending.set(mid, (p) => {
        clearTimeout(timer);
        this.pending.delete(mid);
        const m = new Map<string, Buffer>();
        for (const o of p.options) m.set(String(o.name), o.value);
        resolve({ code: p.code, payload: p.payload, options: m });
      });
      fire();
    });
  }

  async post(path: 'c' | 'r', body: Map<number, unknown>, counter?: number): Promise<Reply> {
    this.counter = counter ?? this.counter + 1;
    return this.request('POST', path, { payload: encodeEnvelope(this.o.key, path, this.o.id, this.counter, body) });
  }

  async checkin(running: string, product: string, extra: Array<[number, unknown]> = []): Promise<{ reply: Reply; map: Map<number, unknown> }> {
    const reply = await this.post('c', new Map<number, unknown>([[1, product], [2, Buffer.from(running, 'hex')], [3, 0], ...extra]));
    const map = reply.code === '2.05' ? (decodeCbor(reply.payload) as Map<number, unknown>) : new Map();
    return { reply, map };
  }

  async report(status: string, extra: Array<[number, unknown]> = []): Promise<Reply> {
    return this.post('r', new Map<number, unknown>([[1, status], ...extra]));
  }

  /**
   * Block2 download from `offset` (a multiple of the block size) to the end, or until `stopAfterBlocks`.
   * Checks that every block carries the same ETag.
   */
  async download(path: string, opts: { szx: number; offset?: number; into?: Buffer; stopAfterBlocks?: number }): Promise<{ data: Buffer; offset: number; etag: Buffer | undefined; done: boolean; size?: number }> {
    const size = 1 << (opts.szx + 4);
    let num = Math.floor((opts.offset ?? 0) / size);
    const parts: Buffer[] = [];
    let etag: Buffer | undefined;
    let total: number | undefined;
    let blocks = 0;
    for (;;) {
      if (opts.stopAfterBlocks !== undefined && blocks >= opts.stopAfterBlocks) return { data: Buffer.concat(parts), offset: num * size, etag, done: false, size: total };
      const r = await this.request('GET', path, { block2: { num, szx: opts.szx }, size2: num === 0 });
      if (r.code !== '2.05') throw new Error(`block ${num}: ${r.code} ${r.payload.toString()}`);
      const e = r.options.get('ETag');
      if (etag && e && !etag.equals(e)) throw new Error('ETag changed in the middle of a download');
      etag ??= e;
      const s2 = r.options.get('Size2');
      if (s2) total = s2.reduce((a, b) => a * 256 + b, 0);
      const b = decodeBlock(r.options.get('Block2') ?? Buffer.alloc(0))!;
      if (b.num * (1 << (b.szx + 4)) !== num * size) throw new Error(`asked block ${num} got ${b.num}`);
      parts.push(r.payload);
      blocks++;
      num++;
      if (!b.more) return { data: Buffer.concat(parts), offset: num * size, etag, done: true, size: total };
    }
  }

  /** A whole GET with Block2 at the server's block size (manifest, .well-known/core). */
  async getAll(path: string, szx = 6): Promise<Buffer> {
    return (await this.download(path, { szx })).data;
  }
}

export { uint };
