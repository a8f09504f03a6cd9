import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { loadMqtt } from '../../../heavy-deps.ts';
import type { Logger } from '../../../log.ts';
import { FurrowError } from '../../../errors.ts';
import { buildDownlink, ChirpStackMessageError, commandDownTopic, eventTopic, parseAck, parseTxAck, parseUplink, type Ack, type TxAck, type Uplink } from './messages.ts';

export interface ChirpStackClientOptions {
  mqttUrl: string;
  username?: string | undefined;
  password?: string | undefined;
  applicationId: string;
  topicPrefix: string;
  log: Logger;
  /** How long start() waits for the broker before it goes on and lets mqtt.js keep retrying. */
  connectTimeoutMs?: number;
}

interface Handlers {
  up: Array<(u: Uplink) => void>;
  ack: Array<(a: Ack) => void>;
  txack: Array<(t: TxAck) => void>;
}

/**
 * ChirpStack v4 over its MQTT integration: device events in, downlink commands out. One subscription
 * per event kind with a `+` for the device, so devices added in ChirpStack need no restart here.
 * A malformed event is logged with its topic and dropped; it never reaches a handler.
 */
export class ChirpStackClient {
  private client: MqttClient | undefined;
  private readonly handlers: Handlers = { up: [], ack: [], txack: [] };
  private readonly log: Logger;
  /** Downlinks enqueued and not yet confirmed by a txack, by queue item id. */
  readonly pending = new Map<string, { devEui: string; fPort: number; data: Buffer; at: number }>();
  stats = { uplinks: 0, downlinks: 0, txacks: 0, acks: 0, malformed: 0 };

  constructor(private readonly opts: ChirpStackClientOptions) {
    this.log = opts.log.child({ module: 'lora.chirpstack' });
  }

  onUplink(h: (u: Uplink) => void): void {
    this.handlers.up.push(h);
  }

  onAck(h: (a: Ack) => void): void {
    this.handlers.ack.push(h);
  }

  onTxAck(h: (t: TxAck) => void): void {
    this.handlers.txack.push(h);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    if (this.client) return;
    const { mqttUrl, username, password, applicationId, topicPrefix } = this.opts;
    const mqtt = await loadMqtt();
    if (this.client) return;
    const client = mqtt.connect(mqttUrl, {
      clientId: `furrow-lora-${randomUUID().slice(0, 8)}`,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      reconnectPeriod: 2000,
      clean: true,
    });
    this.client = client;
    const topics = (['up', 'ack', 'txack'] as const).map((k) => eventTopic(topicPrefix, applicationId, '+', k));
    client.on('connect', () => {
      // Class A leaves ~1 s between uplink and receive window; Nagle's 40 ms stalls eat into it.
      (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      client.subscribe(topics, { qos: 1 }, (err) => {
        if (err) this.log.error({ err, topics }, 'subscribing to ChirpStack events failed');
        else this.log.info({ url: mqttUrl, applicationId }, 'subscribed to ChirpStack device events');
      });
    });
    client.on('error', (err) => this.log.warn({ err: err.message, url: mqttUrl }, 'MQTT error talking to ChirpStack broker'));
    client.on('message', (topic, payload) => this.dispatch(topic, payload));
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.log.warn({ url: mqttUrl }, 'ChirpStack MQTT broker not reachable yet; retrying in the background');
        resolve();
      }, this.opts.connectTimeoutMs ?? 10_000);
      client.once('connect', () => {
        clearTimeout(t);
        // Resolve after the subscription is in place so no uplink right after start is missed.
        client.subscribe(topics, { qos: 1 }, () => resolve());
      });
    });
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }

  private dispatch(topic: string, payload: Buffer): void {
    const kind = topic.slice(topic.lastIndexOf('/') + 1);
    try {
      if (kind === 'up') {
        const u = parseUplink(topic, payload);
        this.stats.uplinks++;
        for (const h of this.handlers.up) h(u);
      } else if (kind === 'txack') {
        const t = parseTxAck(topic, payload);
        this.stats.txacks++;
        this.pending.delete(t.queueItemId);
        for (const h of this.handlers.txack) h(t);
      } else if (kind === 'ack') {
        const a = parseAck(topic, payload);
        this.stats.acks++;
        for (const h of this.handlers.ack) h(a);
      }
    } catch (err) {
      if (!(err instanceof ChirpStackMessageError)) {
        this.log.error({ err, topic }, 'handler for a ChirpStack event failed');
        return;
      }
      this.stats.malformed++;
      this.log.warn({ topic, problem: err.message }, 'dropped malformed ChirpStack event');
    }
  }

  /**
   * A Class A device that never uplinks again keeps its queue item in ChirpStack forever and never gets
   * a txack: forget such items after six hours so the map cannot grow without bound.
   */
  private prunePending(now: number): void {
    for (const [id, p] of this.pending) if (now - p.at > 6 * 3_600_000) this.pending.delete(id);
  }

  /** True if the very same frame is still waiting in ChirpStack's queue for this device. */
  isQueued(devEui: string, fPort: number, data: Buffer): boolean {
    for (const p of this.pending.values()) if (p.devEui === devEui && p.fPort === fPort && p.data.equals(data)) return true;
    return false;
  }

  /**
   * Queues a downlink in ChirpStack (QoS 1, so the broker has it before this resolves). Class A devices
   * get it in the receive window after their next uplink; Class C devices as soon as the NS can send.
   * Returns the queue item id that the ack/txack events will carry.
   */
  async enqueue(devEui: string, fPort: number, data: Buffer, confirmed = false): Promise<string> {
    const c = this.client;
    if (!c) throw new FurrowError('lora.not_started', `cannot send to ${devEui}: the ChirpStack client is not started`);
    const id = randomUUID();
    const cmd = buildDownlink(id, devEui, fPort, data, confirmed);
    // Recorded before publishing: ChirpStack's txack can overtake the broker's PUBACK.
    const now = Date.now();
    if (this.pending.size >= 10_000) this.prunePending(now);
    this.pending.set(id, { devEui, fPort, data, at: now });
    try {
      await c.publishAsync(commandDownTopic(this.opts.topicPrefix, this.opts.applicationId, devEui), JSON.stringify(cmd), { qos: 1 });
    } catch (err) {
      this.pending.delete(id);
      throw new FurrowError('lora.enqueue_failed', `could not queue a downlink for ${devEui} on FPort ${fPort}: ${(err as Error).message}`, { cause: err });
    }
    this.stats.downlinks++;
    return id;
  }
}
