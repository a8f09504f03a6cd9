/**
 * A bearer is how datagrams reach devices: a plain UDP socket, a Quectel modem's UDP socket, or LoRa.
 * The CoAP server speaks only this interface, so it cannot tell the bearers apart.
 */
export interface PeerAddress {
  address: string;
  port: number;
  /** Which bearer the datagram came in on; replies go out the same way. */
  bearer: string;
}

export interface DatagramTransport {
  readonly name: string;
  /** Largest datagram this bearer carries; the CoAP layer picks block sizes below it. */
  readonly maxDatagram: number;
  /**
   * Largest CoAP payload one datagram carries to this peer (after the header and options of a Block2
   * response), when that differs per peer: a LoRa device's data rate decides its frame size. The CoAP
   * layer caps the block sizes it advises and serves by this; without it only `maxDatagram` counts.
   */
  maxPayloadFor?(peer: PeerAddress): number;
  /** The kind of radio, used by the scheduler's airtime model. */
  readonly kind: 'udp' | 'nbiot' | 'ltem' | 'lora';
  start(): Promise<void>;
  stop(): Promise<void>;
  send(data: Buffer, peer: PeerAddress): Promise<void>;
  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void;
}
