import type { Logger } from '../log.ts';
import type { AtClient } from './at/client.ts';
import { paramsOf, type Urc } from './at/urc.ts';
import type { PayloadRule } from './at/framer.ts';
import type { StepContext } from './bringup.ts';
import type { ModemConfig } from './config.ts';
import { ModemError } from './errors.ts';
import type { ModemModel } from './parse.ts';
import { TIMEOUT_MS } from './timeouts.ts';

export interface Peer {
  address: string;
  port: number;
}

/**
 * Largest datagram per model. BG96 "UDP SERVICE" AT+QISEND takes 0..1460 bytes (BG96 TCP/IP Application
 * Note §2.2.7). BC66 AT+QISEND takes up to 1024 bytes of text, and a hex string of twice the length
 * must fit its AT line buffer; 512 bytes is the figure that works in both send formats.
 */
export const MAX_DATAGRAM: Record<ModemModel, number> = { bc66: 512, bg96: 1460 };

type OpenFn = (ctx: StepContext, model: ModemModel, connectId: number, remote?: Peer) => Promise<void>;

const HEX = /^[0-9A-Fa-f]*$/;
const key = (p: Peer) => `${p.address}:${p.port}`;

/**
 * The modem's UDP sockets and the datagrams through them. BG96 has one "UDP SERVICE" socket that talks
 * to any peer (AT+QISEND=<id>,<len>,"<ip>",<port>). BC66 has only connected "UDP" sockets, so it gets one
 * socket per peer: the configured peers at bring-up, and a new one the first time we send to another.
 */
export class DatagramIo {
  /** BC66: peer → connectId. BG96: the single service socket under key "*". */
  private sockets = new Map<string, number>();
  private reading = new Set<number>();
  private closed = new Set<number>();
  /** Received data arrives as hex (AT+QICFG="dataformat",x,1); false: raw bytes counted by length (BG96 only). */
  recvHex = true;
  private ctx: StepContext | undefined;
  private open: OpenFn | undefined;

  constructor(
    private readonly cfg: ModemConfig,
    private readonly client: AtClient,
    private readonly log: Logger,
    private readonly model: () => ModemModel | undefined,
    private readonly deliver: (p: [Buffer, Peer]) => void,
  ) {}

  get maxDatagram(): number {
    const m = this.model();
    return m ? MAX_DATAGRAM[m] : MAX_DATAGRAM.bc66;
  }

  describeSockets(): string[] {
    return [...this.sockets].map(([k, id]) => `${id}:${k}`);
  }

  forgetSockets(): void {
    this.sockets.clear();
    this.closed.clear();
  }

  markClosed(connectId: number): void {
    this.closed.add(connectId);
  }

  /** BG96: the data follows the header line; tell the framer how many bytes (hex doubles them). */
  payloadRule(): PayloadRule | undefined {
    if (this.model() !== 'bg96') return undefined;
    const factor = this.recvHex ? 2 : 1;
    return (line) => {
      if (line.startsWith('+QIURC: "recv"') || line.startsWith('+QIRD:')) {
        const p = paramsOf(line);
        const n = Number(line.startsWith('+QIRD:') ? p[0] : p[2]);
        const hasAddress = line.startsWith('+QIRD:') ? p.length >= 3 : p.length >= 5;
        // A length beyond one datagram is line noise, not data: waiting for it would wedge the framer.
        if (hasAddress && Number.isInteger(n) && n > 0 && n <= MAX_DATAGRAM.bg96) return factor * n;
      }
      return undefined;
    };
  }

  async openAll(ctx: StepContext, model: ModemModel, open: OpenFn): Promise<void> {
    this.ctx = ctx;
    this.open = open;
    if (model === 'bg96') {
      if (this.sockets.has('*') && !this.closed.has(this.cfg.connectId)) return;
      await open(ctx, model, this.cfg.connectId);
      this.sockets.set('*', this.cfg.connectId);
      this.closed.delete(this.cfg.connectId);
      return;
    }
    const wanted = new Map<string, Peer>();
    for (const s of this.cfg.peers) {
      const [address, port] = s.split(':');
      wanted.set(s, { address: address!, port: Number(port) });
    }
    for (const k of this.sockets.keys()) {
      const [address, port] = k.split(':');
      wanted.set(k, { address: address!, port: Number(port) });
    }
    for (const [k, peer] of wanted) {
      const id = this.sockets.get(k) ?? this.freeId();
      if (this.sockets.has(k) && !this.closed.has(id)) continue;
      await open(ctx, model, id, peer);
      this.sockets.set(k, id);
      this.closed.delete(id);
    }
  }

  private freeId(): number {
    const used = new Set(this.sockets.values());
    // BC66 has connectId 0..4 (BC66 TCP/IP Application Note, AT+QIOPEN).
    for (let id = this.cfg.connectId; id <= 4; id++) if (!used.has(id)) return id;
    throw new ModemError('MODEM_NO_SOCKET', `BC66 has no free socket (ids ${this.cfg.connectId}..4 in use) for another peer`, {
      hint: 'a BC66 gateway serves at most 5 peers at once; use a BG96 for more',
    });
  }

  async send(data: Buffer, peer: Peer): Promise<void> {
    const model = this.model();
    if (!model) throw new ModemError('MODEM_NOT_READY', 'modem not identified yet');
    if (model === 'bg96') {
      const id = this.sockets.get('*') ?? this.cfg.connectId;
      await this.client.send({
        command: `AT+QISEND=${id},${data.length},"${peer.address}",${peer.port}`,
        timeoutMs: TIMEOUT_MS.qisend,
        promptPayload: data,
        finals: /^SEND OK$/,
        failFinals: /^SEND FAIL$/,
        okIsIntermediate: true,
      });
      return;
    }
    let id = this.sockets.get(key(peer));
    if (id === undefined) {
      if (!this.ctx || !this.open) throw new ModemError('MODEM_NOT_READY', 'BC66 sockets not set up yet');
      id = this.freeId();
      this.log.info({ peer: key(peer), connectId: id }, 'opening a BC66 socket for a new peer');
      await this.open(this.ctx, 'bc66', id, peer);
      this.sockets.set(key(peer), id);
    }
    const hex = this.cfg.sendFormat === 'hex';
    await this.client.send({
      command: hex ? `AT+QISEND=${id},${data.length},${data.toString('hex').toUpperCase()}` : `AT+QISEND=${id},${data.length}`,
      timeoutMs: TIMEOUT_MS.qisend,
      ...(hex ? {} : { promptPayload: data }),
      finals: /^SEND OK$/,
      failFinals: /^SEND FAIL$/,
      okIsIntermediate: true,
    });
  }

  onRecv(u: Extract<Urc, { type: 'recv' }>): void {
    if (u.payload !== undefined || u.hex !== undefined) {
      const data = u.payload && !this.recvHex ? u.payload : this.decode(u.payload ? u.payload.toString('latin1') : u.hex!, u.length, `+QIURC recv on socket ${u.connectId}`);
      if (!data) return;
      const peer = u.address && u.port !== undefined ? { address: u.address, port: u.port } : this.peerOf(u.connectId);
      if (!peer) return this.log.warn({ connectId: u.connectId }, 'datagram on a socket we did not open; dropped');
      this.deliver([data, peer]);
      return;
    }
    void this.readBuffered(u.connectId);
  }

  private peerOf(connectId: number): Peer | undefined {
    for (const [k, id] of this.sockets) {
      if (id !== connectId || k === '*') continue;
      const [address, port] = k.split(':');
      return { address: address!, port: Number(port) };
    }
    return undefined;
  }

  private decode(hex: string, length: number | undefined, where: string): Buffer | undefined {
    if (!HEX.test(hex) || hex.length % 2 !== 0 || (length !== undefined && hex.length !== 2 * length)) {
      this.log.warn({ where, length, chars: hex.length }, 'malformed received data (not the announced hex length); dropped');
      return undefined;
    }
    return Buffer.from(hex, 'hex');
  }

  /** Buffer access mode: drain the socket with AT+QIRD (also polled, so a lost "recv" URC loses nothing). */
  async readBuffered(connectId: number): Promise<void> {
    if (this.reading.has(connectId)) return;
    this.reading.add(connectId);
    try {
      for (let i = 0; i < 32; i++) {
        const model = this.model();
        const r = await this.client.send({
          command: model === 'bg96' ? `AT+QIRD=${connectId}` : `AT+QIRD=${connectId},${this.maxDatagram}`,
          timeoutMs: TIMEOUT_MS.qird,
          expect: '+QIRD:',
        });
        const head = r.lines.find((l) => l.text.startsWith('+QIRD:'));
        if (!head) return;
        const p = paramsOf(head.text);
        const n = Number(p[0]);
        if (!n) return;
        if (model === 'bg96') {
          const raw = head.payload ?? Buffer.alloc(0);
          const data = this.recvHex ? this.decode(raw.toString('latin1'), n, 'AT+QIRD') : raw.length === n ? raw : undefined;
          if (data) this.deliver([data, { address: p[1]!, port: Number(p[2]) }]);
        } else {
          const data = this.decode(p.at(-1) ?? '', n, 'AT+QIRD');
          const peer = this.peerOf(connectId);
          if (data && peer) this.deliver([data, peer]);
        }
      }
    } catch (err) {
      this.log.warn({ connectId, err: (err as Error).message }, 'AT+QIRD failed; will read again on the next poll');
    } finally {
      this.reading.delete(connectId);
    }
  }

  async pollBuffered(): Promise<void> {
    if (this.cfg.accessMode !== 'buffer') return;
    for (const id of new Set(this.sockets.values())) await this.readBuffered(id);
  }
}
