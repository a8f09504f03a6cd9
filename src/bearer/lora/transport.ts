import type { DatagramTransport, PeerAddress } from '../types.ts';
import type { Logger } from '../../log.ts';
import { FurrowError } from '../../errors.ts';
import type { ChirpStackClient } from './chirpstack/client.ts';
import type { Uplink } from './chirpstack/messages.ts';
import { blockSzxForDr, maxPayload } from './regional.ts';
import { SchcCompressor, SchcError } from './schc/compressor.ts';
import { FURROW_RULES, MAX_BLOCK_OVERHEAD } from './schc/rules.ts';

export interface LoraDeviceState {
  devEui: string;
  dr: number;
  deviceClass: 'A' | 'B' | 'C';
  lastFCnt: number;
  lastUplinkAt: number;
  rssi?: number;
  snr?: number;
}

export interface LoraTransportOptions {
  name: string;
  client: ChirpStackClient;
  log: Logger;
  fPortBase: number;
  defaultDr: number;
  /** Devices configured as Class C capable (lower-case DevEUI). */
  classC?: ReadonlySet<string>;
  repeaterCompatible?: boolean;
}

/**
 * The LoRa unicast bearer: CoAP datagrams carried in LoRaWAN frames, header-compressed with SCHC, the
 * RuleID in the FPort (RFC 9011). A peer is a device: `address` is its DevEUI. Frames on other ports
 * (TS004/TS005, repair requests) go to the handlers registered with onPort().
 *
 * Class A: ChirpStack holds a downlink until the device's next uplink opens a receive window; since a
 * furrow device only ever receives answers to its own requests, every CoAP response rides the window
 * its request opened. Class C devices (per ChirpStack's deviceClassEnabled or the config) get
 * downlinks as soon as the network server can send them.
 */
export class LoraTransport implements DatagramTransport {
  readonly kind = 'lora' as const;
  readonly name: string;
  /** Any CoAP datagram up to this size fits one DR4-7 frame; slower DRs need the block sizes of blockSzxForDr(). */
  readonly maxDatagram: number;
  private readonly schc = new SchcCompressor();
  private readonly handlers: Array<(data: Buffer, peer: PeerAddress) => void> = [];
  private readonly portHandlers = new Map<number, (u: Uplink) => void>();
  readonly devices = new Map<string, LoraDeviceState>();
  private readonly log: Logger;
  private readonly ruleIds: Set<number>;
  /** Charges raw application frames (TS003/TS004/TS005/repair) to the schedule, as MeteredTransport does for CoAP. */
  private rawMeter: { charge(bearer: string, datagramBytes: number): void } | undefined;
  stats = { framesUp: 0, framesDown: 0, coapBytesUp: 0, coapBytesDown: 0, frameBytesUp: 0, frameBytesDown: 0, undecodable: 0, rawFramesDown: 0, rawBytesDown: 0, duplicatesSuppressed: 0 };

  constructor(private readonly opts: LoraTransportOptions) {
    this.name = opts.name;
    this.log = opts.log.child({ module: 'lora', bearer: opts.name });
    this.maxDatagram = maxPayload(7, opts.repeaterCompatible);
    this.ruleIds = new Set([0, ...FURROW_RULES.map((r) => r.id)]);
    if (opts.fPortBase + Math.max(...this.ruleIds) > 223) {
      throw new FurrowError('lora.fport_range', `lora.unicast.fPortBase ${opts.fPortBase} puts SCHC rules above FPort 223`, { exitCode: 2 });
    }
    opts.client.onUplink((u) => this.onUplink(u));
  }

  /** Largest Block2 SZX this device can receive at its current data rate (DR0-2: 1, DR3: 2, DR4-7: 3). */
  blockSzxFor(peer: PeerAddress): number {
    return blockSzxForDr(this.device(peer.address).dr, MAX_BLOCK_OVERHEAD);
  }

  /**
   * DatagramTransport.maxPayloadFor: the CoAP payload that fits one frame at the device's current data
   * rate next to the worst-case compressed Block2 header (DR0-2: 32, DR3: 96, DR4-7: 223 bytes). The
   * CoAP server caps its advised and served block sizes by it.
   */
  maxPayloadFor(peer: PeerAddress): number {
    return maxPayload(this.device(peer.address).dr, this.opts.repeaterCompatible) - MAX_BLOCK_OVERHEAD;
  }

  /** Frames that are not SCHC/CoAP (TS004, TS005, repair) arrive here by FPort. */
  onPort(fPort: number, handler: (u: Uplink) => void): void {
    if (this.ruleIds.has(fPort - this.opts.fPortBase)) throw new FurrowError('lora.fport_clash', `FPort ${fPort} is already used by SCHC rule ${fPort - this.opts.fPortBase}`, { exitCode: 2 });
    this.portHandlers.set(fPort, handler);
  }

  /** Starts the ChirpStack client this bearer owns (the multicast session reuses it through here). */
  async start(): Promise<void> {
    await this.opts.client.start();
  }

  async stop(): Promise<void> {
    await this.opts.client.stop();
  }

  onMessage(handler: (data: Buffer, peer: PeerAddress) => void): void {
    this.handlers.push(handler);
  }

  device(devEui: string): LoraDeviceState {
    const key = devEui.toLowerCase();
    let d = this.devices.get(key);
    if (!d) {
      d = { devEui: key, dr: this.opts.defaultDr, deviceClass: this.opts.classC?.has(key) ? 'C' : 'A', lastFCnt: -1, lastUplinkAt: 0 };
      this.devices.set(key, d);
    }
    return d;
  }

  private onUplink(u: Uplink): void {
    const d = this.device(u.devEui);
    d.dr = u.dr;
    d.lastFCnt = u.fCnt;
    d.lastUplinkAt = Date.now();
    if (u.deviceClass === 'C' || this.opts.classC?.has(d.devEui)) d.deviceClass = 'C';
    if (u.rssi !== undefined) d.rssi = u.rssi;
    if (u.snr !== undefined) d.snr = u.snr;
    const ruleId = u.fPort - this.opts.fPortBase;
    if (!this.ruleIds.has(ruleId)) {
      const h = this.portHandlers.get(u.fPort);
      if (h) h(u);
      else if (u.fPort !== 0) this.log.debug({ devEui: u.devEui, fPort: u.fPort }, 'uplink on a port nobody handles');
      return;
    }
    let coap: Buffer;
    try {
      coap = this.schc.decompress({ ruleId, data: u.data }, 'up');
    } catch (err) {
      this.stats.undecodable++;
      this.log.warn({ devEui: u.devEui, fPort: u.fPort, problem: err instanceof SchcError ? err.message : String(err) }, 'dropped uplink that does not decompress');
      return;
    }
    this.stats.framesUp++;
    this.stats.coapBytesUp += coap.length;
    this.stats.frameBytesUp += u.data.length;
    // The FPort only names the SCHC rule that compressed this message, so it is not part of the peer:
    // one device's retransmissions and block-wise exchanges stay one peer whichever rule fits each message.
    const peer: PeerAddress = { address: d.devEui, port: this.opts.fPortBase, bearer: this.name };
    for (const h of this.handlers) h(coap, peer);
  }

  async send(data: Buffer, peer: PeerAddress): Promise<void> {
    const d = this.device(peer.address);
    const packet = this.schc.compress(data, 'down');
    const limit = maxPayload(d.dr, this.opts.repeaterCompatible);
    if (packet.data.length > limit) {
      throw new FurrowError(
        'lora.frame_too_large',
        `CoAP message of ${data.length} bytes compresses to ${packet.data.length} (SCHC rule ${packet.ruleId}) but device ${d.devEui} at DR${d.dr} takes at most ${limit}`,
        { hint: 'the device must ask for smaller Block2 blocks at this data rate (see blockSzxForDr)' },
      );
    }
    const fPort = this.opts.fPortBase + packet.ruleId;
    // A Class A device that retransmitted its request before the first reply reached it would get the
    // same reply twice, each costing a receive window and airtime: the copy still queued is enough.
    if (d.deviceClass !== 'C' && this.opts.client.isQueued(d.devEui, fPort, packet.data)) {
      this.stats.duplicatesSuppressed++;
      return;
    }
    await this.opts.client.enqueue(d.devEui, fPort, packet.data);
    this.stats.framesDown++;
    this.stats.coapBytesDown += data.length;
    this.stats.frameBytesDown += packet.data.length;
  }

  offPort(fPort: number): void {
    this.portHandlers.delete(fPort);
  }

  /**
   * From now on every raw frame is charged to `meter` under this bearer's name: clock-sync answers and
   * multicast setup/status/repair frames take the same sub-band airtime the CoAP blocks wait for.
   */
  meterRaw(meter: { charge(bearer: string, datagramBytes: number): void }): void {
    this.rawMeter = meter;
  }

  /** Sends a raw application frame (TS004/TS005/repair) to one device; returns the queue item id. */
  async sendRaw(devEui: string, fPort: number, data: Buffer): Promise<string> {
    const d = this.device(devEui);
    const limit = maxPayload(d.dr, this.opts.repeaterCompatible);
    if (data.length > limit) throw new FurrowError('lora.frame_too_large', `frame of ${data.length} bytes on FPort ${fPort} exceeds DR${d.dr}'s ${limit} bytes for ${d.devEui}`);
    const id = await this.opts.client.enqueue(d.devEui, fPort, data);
    this.stats.rawFramesDown++;
    this.stats.rawBytesDown += data.length;
    this.rawMeter?.charge(this.name, data.length);
    return id;
  }

  /** True while ChirpStack has not reported the downlink as handed to a gateway (no txack yet). */
  isPending(queueItemId: string): boolean {
    return this.opts.client.pending.has(queueItemId);
  }
}
