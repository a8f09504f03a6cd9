/**
 * A ChirpStack v4 stand-in for tests (ChirpStack itself cannot be installed here). It is an MQTT client
 * on a real broker that plays the network server and the radio: devices publish uplinks as ChirpStack's
 * `event/up` JSON, downlink commands from `command/down` are queued per device and delivered the way
 * LoRaWAN allows (Class A: one frame in the receive window after an uplink; Class C: any time), with a
 * seeded random loss model and the EU868 payload limit per data rate enforced. Multicast goes through
 * a small HTTP server with ChirpStack's REST routes for multicast groups.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { timeOnAirMs } from '../../src/bearer/lora/airtime.ts';
import { downlinkCommandSchema } from '../../src/bearer/lora/chirpstack/messages.ts';
import { dataRate, maxPayload } from '../../src/bearer/lora/regional.ts';

export interface DeviceApp {
  /** A frame reached the device. `fPending`: the network has more queued (uplink soon to get it). */
  onDownlink(fPort: number, data: Buffer, ctx: { fPending: boolean; multicast: boolean }): void;
  /** Whether the device currently listens to multicast group traffic (in a Class C session). */
  listensToMulticast?(): boolean;
  /** True while the device's receiver stays open (a TS005 Class C session): unicast goes out at once. */
  inClassC?(): boolean;
}

interface QueueItem {
  id: string;
  fPort: number;
  data: Buffer;
  confirmed: boolean;
}

export interface EmulatedDevice {
  devEui: string;
  dr: number;
  deviceClass: 'A' | 'C';
  app: DeviceApp;
  fCntUp: number;
  fCntDown: number;
  queue: QueueItem[];
  windowOpenUntil: number;
  /** Per-device loss overrides (fractions). */
  lossDown?: number;
  lossUp?: number;
}

export interface EmulatorOptions {
  brokerUrl: string;
  applicationId: string;
  topicPrefix?: string;
  /** Fraction of downlink frames (unicast and multicast) a device does not receive. */
  lossDown?: number;
  /** Fraction of uplinks no gateway receives. */
  lossUp?: number;
  seed?: number;
  /** How long after an uplink a downlink enqueued by the application still makes the receive window. */
  rxWindowMs?: number;
  apiToken?: string;
}

export interface AirStats {
  frames: number;
  /** FRMPayload bytes. */
  bytes: number;
  /** PHYPayload bytes (FRMPayload + 13). */
  phyBytes: number;
  airtimeMs: number;
}

const emptyStats = (): AirStats => ({ frames: 0, bytes: 0, phyBytes: 0, airtimeMs: 0 });

export class ChirpStackEmulator {
  readonly devices = new Map<string, EmulatedDevice>();
  readonly groups = new Map<string, { members: Set<string>; fCnt: number; dr: number; spec: Record<string, unknown> }>();
  readonly stats = { unicastDown: emptyStats(), multicastDown: emptyStats(), up: emptyStats(), lostDown: 0, lostUp: 0, oversize: 0, rejected: [] as string[] };
  private client!: MqttClient;
  private server!: Server;
  apiUrl = '';
  private rand: () => number;

  constructor(private readonly o: EmulatorOptions) {
    let s = (o.seed ?? 1) >>> 0;
    this.rand = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
  }

  private get prefix(): string {
    return this.o.topicPrefix ?? '';
  }

  async start(): Promise<void> {
    this.client = await mqtt.connectAsync(this.o.brokerUrl, { clientId: `chirpstack-emu-${randomUUID().slice(0, 8)}`, reconnectPeriod: 200 });
    const noDelay = (): void => (this.client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    noDelay();
    this.client.on('connect', noDelay);
    this.client.on('message', (topic, payload) => this.onCommand(topic, payload));
    await this.client.subscribeAsync(`${this.prefix}application/${this.o.applicationId}/device/+/command/down`, { qos: 1 });
    this.server = createServer((req, res) => void this.onHttp(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.apiUrl = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  addDevice(devEui: string, opts: { dr: number; deviceClass?: 'A' | 'C'; app: DeviceApp; lossDown?: number; lossUp?: number }): EmulatedDevice {
    const d: EmulatedDevice = { devEui: devEui.toLowerCase(), dr: opts.dr, deviceClass: opts.deviceClass ?? 'A', app: opts.app, fCntUp: 0, fCntDown: 0, queue: [], windowOpenUntil: 0 };
    if (opts.lossDown !== undefined) d.lossDown = opts.lossDown;
    if (opts.lossUp !== undefined) d.lossUp = opts.lossUp;
    this.devices.set(d.devEui, d);
    return d;
  }

  private count(s: AirStats, bytes: number, dr: number, direction: 'up' | 'down'): void {
    s.frames++;
    s.bytes += bytes;
    s.phyBytes += bytes + 13;
    s.airtimeMs += timeOnAirMs(bytes, dr, { direction });
  }

  /** The device transmits. Returns false when no gateway heard it (loss model). */
  async uplink(devEui: string, fPort: number, data: Buffer): Promise<boolean> {
    const d = this.devices.get(devEui)!;
    if (data.length > maxPayload(d.dr)) throw new Error(`emulated device ${devEui} tried to send ${data.length} bytes at DR${d.dr} (max ${maxPayload(d.dr)})`);
    d.fCntUp++;
    this.count(this.stats.up, data.length, d.dr, 'up');
    if (this.rand() < (d.lossUp ?? this.o.lossUp ?? 0)) {
      this.stats.lostUp++;
      return false;
    }
    const mod = dataRate(d.dr).modulation;
    const event: Record<string, unknown> = {
      deduplicationId: randomUUID(),
      time: new Date().toISOString(),
      deviceInfo: {
        tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
        tenantName: 'farm',
        applicationId: this.o.applicationId,
        applicationName: 'furrow',
        deviceProfileId: 'bf9b8d18-2b2d-4cc2-8f4a-1b8f2b7f8b1e',
        deviceProfileName: 'soil-probe',
        deviceName: `probe-${devEui.slice(-4)}`,
        devEui,
        ...(d.deviceClass === 'C' ? { deviceClassEnabled: 'CLASS_C' } : {}),
        tags: {},
      },
      devAddr: devEui.slice(-8),
      adr: true,
      // protobuf JSON leaves out default values: no dr for DR0, no fCnt for 0, no data when empty
      ...(d.dr ? { dr: d.dr } : {}),
      ...(d.fCntUp ? { fCnt: d.fCntUp } : {}),
      fPort,
      confirmed: false,
      ...(data.length ? { data: data.toString('base64') } : {}),
      rxInfo: [{ gatewayId: '0016c001ff10a235', uplinkId: 1234, rssi: -97, snr: 7.5, channel: 1, crcStatus: 'CRC_OK' }],
      txInfo: { frequency: 868_100_000, modulation: mod.kind === 'lora' ? { lora: { bandwidth: mod.bandwidthHz, spreadingFactor: mod.sf, codeRate: 'CR_4_5' } } : { fsk: { datarate: 50000 } } },
    };
    await this.client.publishAsync(`${this.prefix}application/${this.o.applicationId}/device/${devEui}/event/up`, JSON.stringify(event), { qos: 1 });
    // Class A: the receive windows follow the uplink. Something already queued goes out at once;
    // otherwise a downlink the application enqueues within rxWindowMs still makes it.
    d.windowOpenUntil = Date.now() + (this.o.rxWindowMs ?? 200);
    if (d.queue.length > 0) this.deliverNext(d);
    return true;
  }

  private onCommand(topic: string, payload: Buffer): void {
    const devEui = topic.split('/').at(-3)!;
    let cmd;
    try {
      cmd = downlinkCommandSchema.parse(JSON.parse(payload.toString()));
    } catch (err) {
      this.stats.rejected.push(`${topic}: ${(err as Error).message}`);
      return;
    }
    const d = this.devices.get(devEui);
    if (!d || cmd.devEui.toLowerCase() !== devEui) {
      this.stats.rejected.push(`${topic}: unknown device or devEui mismatch`);
      return;
    }
    const data = Buffer.from(cmd.data ?? '', 'base64');
    if (data.length > maxPayload(d.dr)) {
      // ChirpStack logs DOWNLINK_PAYLOAD_SIZE and drops the item.
      this.stats.oversize++;
      this.stats.rejected.push(`${topic}: ${data.length} bytes exceed DR${d.dr}`);
      return;
    }
    d.queue.push({ id: cmd.id ?? randomUUID(), fPort: cmd.fPort, data, confirmed: cmd.confirmed ?? false });
    if (this.classC(d) || Date.now() <= d.windowOpenUntil) this.deliverNext(d);
  }

  private classC(d: EmulatedDevice): boolean {
    return d.deviceClass === 'C' || (d.app.inClassC?.() ?? false);
  }

  private deliverNext(d: EmulatedDevice): void {
    const item = d.queue.shift();
    if (!item) return;
    if (!this.classC(d)) d.windowOpenUntil = 0; // one downlink per receive window
    d.fCntDown++;
    this.count(this.stats.unicastDown, item.data.length, d.dr, 'down');
    const txack = { downlinkId: d.fCntDown, time: new Date().toISOString(), deviceInfo: { applicationId: this.o.applicationId, devEui: d.devEui }, queueItemId: item.id, fCntDown: d.fCntDown, gatewayId: '0016c001ff10a235' };
    void this.client.publishAsync(`${this.prefix}application/${this.o.applicationId}/device/${d.devEui}/event/txack`, JSON.stringify(txack), { qos: 1 });
    const lost = this.rand() < (d.lossDown ?? this.o.lossDown ?? 0);
    if (lost) {
      this.stats.lostDown++;
      if (this.classC(d) && d.queue.length > 0) setImmediate(() => this.deliverNext(d));
      return;
    }
    const fPending = d.queue.length > 0;
    setImmediate(() => {
      d.app.onDownlink(item.fPort, item.data, { fPending, multicast: false });
      if (this.classC(d) && d.queue.length > 0) this.deliverNext(d);
    });
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (this.o.apiToken && req.headers.authorization !== `Bearer ${this.o.apiToken}`) return send(401, { error: 'authentication failed', code: 16 });
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, Record<string, unknown>>;
    const parts = (req.url ?? '').split('/').filter(Boolean); // api, multicast-groups, id?, sub?
    if (parts[0] !== 'api' || parts[1] !== 'multicast-groups') return send(404, { error: 'not found' });
    const id = parts[2];
    if (req.method === 'POST' && !id) {
      const g = body.multicastGroup ?? {};
      const gid = randomUUID();
      this.groups.set(gid, { members: new Set(), fCnt: 0, dr: Number(g.dr ?? 0), spec: g });
      return send(200, { id: gid });
    }
    const group = id ? this.groups.get(id) : undefined;
    if (!group) return send(404, { error: `multicast group ${id} does not exist`, code: 5 });
    if (req.method === 'DELETE' && parts.length === 3) {
      this.groups.delete(id!);
      return send(200, {});
    }
    if (req.method === 'POST' && parts[3] === 'devices') {
      group.members.add(String(body.devEui ?? '').toLowerCase());
      return send(200, {});
    }
    if (req.method === 'POST' && parts[3] === 'queue') {
      const item = body.queueItem ?? {};
      const data = Buffer.from(String(item.data ?? ''), 'base64');
      if (data.length > maxPayload(group.dr)) return send(400, { error: `payload of ${data.length} bytes exceeds DR${group.dr}`, code: 3 });
      const fCnt = group.fCnt++;
      this.count(this.stats.multicastDown, data.length, group.dr, 'down');
      // One transmission; each member hears it or not on its own (independent loss per device).
      for (const eui of group.members) {
        const d = this.devices.get(eui);
        if (!d || !(d.app.listensToMulticast?.() ?? false)) continue;
        if (this.rand() < (d.lossDown ?? this.o.lossDown ?? 0)) continue;
        d.app.onDownlink(Number(item.fPort), data, { fPending: false, multicast: true });
      }
      return send(200, { fCnt });
    }
    return send(404, { error: 'not found' });
  }
}
