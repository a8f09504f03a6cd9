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
  /** Datagrams not sent because they would have broken the duty cycle or dwell time. */
  dropped = 0;

  constructor(
    readonly inner: DatagramTransport,
    private readonly scheduler: Pick<Scheduler, 'charge' | 'meter' | 'mayTransmit'>,
  ) {
    this.name = inner.name;
    this.kind = inner.kind;
    this.maxDatagram = inner.maxDatagram;
    scheduler.meter(inner.name);
  }

  /** The wrapped bearer's per-peer limit (LoRa: by data rate); metering does not change frame sizes. */
  get maxPayloadFor(): DatagramTransport['maxPayloadFor'] {
    const inner = this.inner;
    return inner.maxPayloadFor ? (peer: PeerAddress) => inner.maxPayloadFor!(peer) : undefined;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  send(data: Buffer, peer: PeerAddress): Promise<void> {
    const bearer = peer.bearer || this.name;
    if (!this.scheduler.mayTransmit(bearer, data.length)) {
      // Radio silence instead of a violation: the device's CoAP retransmission asks again later.
      this.dropped++;
      return Promise.resolve();
    }
    this.scheduler.charge(bearer, data.length);
    return this.inner.send(data, peer);
  }

  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void {
    this.inner.onMessage(handler);
  }
}

/**
 * The bearer as the CoAP layer should serve it: metered when the schedule has a radio model for it,
 * unchanged otherwise (and never metered twice). Used for bearers given at start and added later alike.
 */
export function meterIfModelled(scheduler: Pick<Scheduler, 'charge' | 'meter' | 'mayTransmit' | 'model'>, t: DatagramTransport): DatagramTransport {
  if (t instanceof MeteredTransport || !scheduler.model(t.name)) return t;
  return new MeteredTransport(t, scheduler);
}
