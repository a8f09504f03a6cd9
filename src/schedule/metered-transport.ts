import type { DatagramTransport, PeerAddress } from '../bearer/types.ts';
import type { Scheduler } from './scheduler.ts';

/**
 * Wraps a bearer so every datagram that leaves is charged to the scheduler: check-in replies, report
 * ACKs and retransmitted replies cost airtime and SIM bytes just like patch blocks, which the gate
 * admits beforehand. With this in place the duty cycle account is what really went on air.
 */
export class MeteredTransport implements DatagramTransport {
  readonly name: string;
  readonly kind: DatagramTransport['kind'];
  readonly maxDatagram: number;

  constructor(
    readonly inner: DatagramTransport,
    private readonly scheduler: Pick<Scheduler, 'charge' | 'meter'>,
  ) {
    this.name = inner.name;
    this.kind = inner.kind;
    this.maxDatagram = inner.maxDatagram;
    scheduler.meter(inner.name);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  send(data: Buffer, peer: PeerAddress): Promise<void> {
    this.scheduler.charge(peer.bearer || this.name, data.length);
    return this.inner.send(data, peer);
  }

  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void {
    this.inner.onMessage(handler);
  }
}
