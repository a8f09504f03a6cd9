/**
 * Plain UDP bearer (IPv4 and IPv6). Binding "::" gives a dual-stack socket, so IPv4 peers arrive as
 * IPv4-mapped addresses (::ffff:a.b.c.d) and replies go back the same way.
 */
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { FurrowError } from '../errors.ts';
import type { DatagramTransport, PeerAddress } from './types.ts';

export interface UdpTransportOptions {
  host: string;
  port: number;
  name?: string;
  /** Largest datagram to send or accept; 1152 keeps a 1024-byte block plus headers under IPv6's 1280 MTU. */
  maxDatagram?: number;
}

export class UdpTransport implements DatagramTransport {
  readonly name: string;
  readonly kind = 'udp' as const;
  readonly maxDatagram: number;
  private socket: dgram.Socket | undefined;
  private handlers: Array<(data: Buffer, peer: PeerAddress) => void> = [];

  constructor(private readonly opts: UdpTransportOptions) {
    this.name = opts.name ?? 'udp';
    this.maxDatagram = opts.maxDatagram ?? 1152;
  }

  /** The bound port (useful when configured with port 0). */
  get port(): number {
    if (!this.socket) throw new FurrowError('UDP_NOT_STARTED', `UDP bearer ${this.name} is not started`);
    return this.socket.address().port;
  }

  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void {
    this.handlers.push(handler);
  }

  async start(): Promise<void> {
    const type = isIPv4(this.opts.host) ? 'udp4' : 'udp6';
    const socket = dgram.createSocket({ type, ipv6Only: false, reuseAddr: false });
    await new Promise<void>((resolveBind, rejectBind) => {
      const onError = (err: NodeJS.ErrnoException) => {
        rejectBind(
          new FurrowError('UDP_BIND', `cannot listen for CoAP on udp [${this.opts.host}]:${this.opts.port}: ${err.code ?? err.message}`, {
            hint: err.code === 'EADDRINUSE' ? 'another process uses this port: stop it or set coap.port in the config' : 'check coap.host and coap.port in the config',
            cause: err,
          }),
        );
      };
      socket.once('error', onError);
      socket.bind(this.opts.port, this.opts.host, () => {
        socket.off('error', onError);
        resolveBind();
      });
    });
    // Large receive buffer: a burst of block requests from many devices must not be dropped by the kernel.
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      /* the kernel may cap it (net.core.rmem_max); the default still works */
    }
    socket.on('message', (data, rinfo) => {
      const peer: PeerAddress = { address: rinfo.address, port: rinfo.port, bearer: this.name };
      for (const h of this.handlers) h(data, peer);
    });
    // After bind, socket errors (e.g. ICMP port unreachable on some platforms) must not kill the daemon.
    socket.on('error', () => undefined);
    this.socket = socket;
  }

  send(data: Buffer, peer: PeerAddress): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new FurrowError('UDP_NOT_STARTED', `UDP bearer ${this.name} is not started`));
    return new Promise((resolveSend, rejectSend) => {
      socket.send(data, peer.port, peer.address, (err) => (err ? rejectSend(err) : resolveSend()));
    });
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((r) => socket.close(() => r()));
  }
}
