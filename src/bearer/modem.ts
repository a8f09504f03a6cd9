import { FurrowError } from '../errors.ts';
import type { QuectelDriver } from '../modem/driver.ts';
import type { DatagramTransport, PeerAddress } from './types.ts';

/**
 * A DatagramTransport over the Quectel modem's UDP socket. The modem service owns the modem's life
 * (bring-up, recovery); start/stop here only connect the CoAP server's handler. A datagram cannot be
 * split, so one larger than the modem takes is refused with an error naming the limit; `maxDatagram`
 * lets the CoAP layer choose block sizes that fit.
 */
export class ModemBearer implements DatagramTransport {
  readonly name = 'modem';
  private handlers: Array<(data: Buffer, peer: PeerAddress) => void> = [];
  private attached = false;

  constructor(
    private readonly driver: QuectelDriver,
    private readonly iotopmode: 'catm' | 'nbiot' | 'both' = 'both',
  ) {}

  get maxDatagram(): number {
    return this.driver.io.maxDatagram;
  }

  /** For the airtime model: BC66 is NB-IoT; a BG96 is whatever its serving cell is (or its configured mode). */
  get kind(): 'nbiot' | 'ltem' {
    if (this.driver.model !== 'bg96') return 'nbiot';
    if (this.driver.rat === 'CAT-NB') return 'nbiot';
    if (this.driver.rat === 'CAT-M') return 'ltem';
    return this.iotopmode === 'nbiot' ? 'nbiot' : 'ltem';
  }

  async start(): Promise<void> {
    if (this.attached) return;
    this.attached = true;
    this.driver.on('datagram', this.onDatagram);
  }

  async stop(): Promise<void> {
    this.attached = false;
    this.driver.off('datagram', this.onDatagram);
  }

  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void {
    this.handlers.push(handler);
  }

  async send(data: Buffer, peer: PeerAddress): Promise<void> {
    const limit = this.maxDatagram;
    if (data.length > limit) {
      throw new FurrowError('BEARER_DATAGRAM_TOO_LARGE', `datagram of ${data.length} bytes to ${peer.address}:${peer.port} exceeds the modem bearer's limit of ${limit} bytes (${this.driver.model ?? 'modem'} AT+QISEND)`, {
        hint: 'a datagram cannot be split: use a CoAP block size below bearer.maxDatagram',
      });
    }
    if (!this.driver.ready) {
      throw new FurrowError('MODEM_NOT_READY', `modem is ${this.driver.state}; datagram to ${peer.address}:${peer.port} not sent`, {
        hint: 'the modem recovers by itself; CoAP retransmission covers the gap',
      });
    }
    await this.driver.io.send(data, { address: peer.address, port: peer.port });
  }

  private readonly onDatagram = (data: Buffer, peer: { address: string; port: number }): void => {
    const p: PeerAddress = { address: peer.address, port: peer.port, bearer: this.name };
    for (const h of this.handlers) h(data, p);
  };
}
