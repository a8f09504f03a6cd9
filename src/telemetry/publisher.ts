import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';
import { wirePayload, type Outbox } from '../store/outbox.ts';
import type { CommandProcessor, CommandReply } from './commands.ts';
import type { MqttConfig } from './config.ts';
import { loadMqtt, type MqttLib } from '../heavy-deps.ts';
import { connectionSettings } from './mqtt-options.ts';
import type { TelemetryState } from './state.ts';
import type { Topics } from './topics.ts';

export interface PublisherDeps {
  log: Logger;
  clock: Clock;
  outbox: Outbox;
  state: TelemetryState;
  commands: CommandProcessor;
  /** Read on every connect, so a reloaded config applies at the next reconnect. */
  settings: () => { mqtt: MqttConfig; gatewayId: string; configFile: string; topics: Topics };
}

const MAX_BACKOFF_MS = 60_000;
/** Rows written by another process (the CLI) are noticed within this time. */
const POLL_MS = 1000;

/**
 * Drains the outbox to the broker with QoS 1, in seq order, at most `inflight` unacknowledged. A row is
 * marked sent only in its PUBACK callback. On any disconnect the client is thrown away with everything it
 * held, and the next connection re-sends from the oldest unmarked row: furrow, not the client library,
 * decides what is re-sent, so order survives outages and restarts alike.
 */
export class MqttPublisher implements Service {
  readonly name = 'mqtt';
  private client: MqttClient | undefined;
  private generation = 0;
  private connected = false;
  /** Highest seq handed to the current connection. */
  private cursor = 0;
  private readonly inflight = new Set<number>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private failures = 0;
  private outageStartedAt: number | undefined;
  private stopped = false;
  private drained: (() => void) | undefined;
  private appliedKey = '';
  private mqtt: MqttLib | undefined;

  constructor(private readonly deps: PublisherDeps) {}

  async start(): Promise<void> {
    const s = this.deps.settings();
    // Reading TLS files and the password now turns a bad path into a start failure, not a silent outage.
    connectionSettings(s.mqtt, s.gatewayId, s.configFile, s.topics);
    this.mqtt = await loadMqtt();
    this.deps.state.mqtt.enabled = true;
    this.stopped = false;
    this.connect();
    this.pollTimer = setInterval(() => this.pump(), POLL_MS);
    this.pollTimer.unref();
  }

  /** New rows are in the outbox: send them now if the link is up. */
  notify(): void {
    if (this.pumpQueued || !this.connected) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /**
   * A reloaded config with other MQTT settings (URL, credentials, TLS files, prefix, gateway id) reconnects
   * at once. New files are read first: a bad path rejects the reload and the running link stays.
   */
  async reload(): Promise<void> {
    const s = this.deps.settings();
    connectionSettings(s.mqtt, s.gatewayId, s.configFile, s.topics);
    const key = this.settingsKey();
    if (key === this.appliedKey || this.stopped) return;
    this.deps.log.info({ url: s.mqtt.url }, 'MQTT settings changed: reconnecting');
    clearTimeout(this.reconnectTimer);
    const old = this.client;
    this.generation++;
    this.connected = false;
    this.inflight.clear();
    this.deps.state.mqtt.connected = false;
    this.client = undefined;
    old?.removeAllListeners('close');
    old?.end(true);
    this.failures = 0;
    this.connect();
  }

  private settingsKey(): string {
    const s = this.deps.settings();
    return JSON.stringify([s.mqtt, s.gatewayId, s.configFile]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (client && this.connected) {
      // Give acknowledged-but-unmarked rows a moment so a clean stop leaves no duplicates behind.
      if (this.inflight.size > 0) {
        await new Promise<void>((res) => {
          const t = setTimeout(res, 2000);
          this.drained = () => {
            clearTimeout(t);
            res();
          };
        });
      }
      const s = this.deps.settings();
      await client
        .publishAsync(s.topics.status(), JSON.stringify({ state: 'offline', gateway: s.gatewayId, reason: 'stopped' }), { qos: 1, retain: true })
        .catch(() => undefined);
    }
    this.generation++;
    this.connected = false;
    this.deps.state.mqtt.connected = false;
    if (client) {
      // A graceful DISCONNECT (no last will); never let an unresponsive link hold up the daemon's stop.
      const ended = await Promise.race([client.endAsync(false).then(() => true, () => false), new Promise<false>((r) => setTimeout(() => r(false), 2000).unref())]);
      if (!ended) client.end(true);
    }
    this.client = undefined;
  }

  private connect(): void {
    const mqtt = this.mqtt;
    if (this.stopped || !mqtt) return;
    const gen = ++this.generation;
    const s = this.deps.settings();
    this.appliedKey = this.settingsKey();
    let client: MqttClient;
    try {
      const { url, options } = connectionSettings(s.mqtt, s.gatewayId, s.configFile, s.topics);
      client = mqtt.connect(url, options);
    } catch (err) {
      this.onDown(gen, errorMessage(err));
      return;
    }
    this.client = client;
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.onUp(client, s.mqtt, s.topics, s.gatewayId);
    });
    client.on('message', (topic, payload, packet) => {
      if (gen !== this.generation || topic !== s.topics.commands()) return;
      void this.onCommand(client, s.topics, payload, packet);
    });
    client.on('error', (err) => {
      if (gen === this.generation) this.deps.state.mqtt.lastError = err.message;
    });
    client.on('close', () => this.onDown(gen, this.deps.state.mqtt.lastError ?? 'connection closed'));
  }

  private onUp(client: MqttClient, cfg: MqttConfig, topics: Topics, gatewayId: string): void {
    const log = this.deps.log;
    const now = this.deps.clock.now();
    this.connected = true;
    this.cursor = 0;
    this.inflight.clear();
    Object.assign(this.deps.state.mqtt, { connected: true, since: now, lastError: undefined });
    const pending = this.deps.outbox.depth();
    log.info(
      { url: cfg.url, pending, outageMs: this.outageStartedAt === undefined ? undefined : now - this.outageStartedAt },
      'connected to the MQTT broker',
    );
    this.failures = 0;
    this.outageStartedAt = undefined;
    client.publish(topics.status(), JSON.stringify({ state: 'online', gateway: gatewayId, since: new Date(now).toISOString() }), { qos: 1, retain: true });
    if (cfg.commands) {
      // rap (retain as published) keeps the sender's retain flag visible, so retained commands can be refused.
      client.subscribe(topics.commands(), { qos: 1, rap: true }, (err) => {
        if (err) log.warn({ error: err.message, topic: topics.commands() }, 'command subscription refused by the broker');
      });
    }
    this.pump();
  }

  private onDown(gen: number, reason: string): void {
    if (gen !== this.generation) return;
    const log = this.deps.log;
    const wasConnected = this.connected;
    this.connected = false;
    this.inflight.clear();
    this.generation++;
    const dead = this.client;
    this.client = undefined;
    dead?.removeAllListeners('close');
    dead?.end(true);
    const now = this.deps.clock.now();
    Object.assign(this.deps.state.mqtt, { connected: false, lastError: reason, ...(wasConnected ? { since: now } : {}) });
    if (this.stopped) return;
    this.outageStartedAt ??= now;
    this.failures++;
    const base = this.deps.settings().mqtt.reconnectSeconds * 1000;
    const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(this.failures - 1, 16)) * (0.8 + Math.random() * 0.4);
    // One warning per outage; the retries that follow are debug, or a months-long outage floods the log.
    if (wasConnected || this.failures === 1) {
      log.warn({ reason, retryInMs: Math.round(delay), pending: this.deps.outbox.depth() }, 'MQTT broker unreachable; events wait in the outbox');
    } else {
      log.debug({ reason, retryInMs: Math.round(delay), attempt: this.failures }, 'MQTT reconnect failed');
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private pump(): void {
    const client = this.client;
    if (!this.connected || !client) return;
    const gen = this.generation;
    const window = this.deps.settings().mqtt.outbox.inflight;
    const room = window - this.inflight.size;
    if (room <= 0) return;
    let rows;
    try {
      rows = this.deps.outbox.pending(this.cursor, room);
    } catch (err) {
      this.deps.log.error({ error: errorMessage(err) }, 'cannot read the outbox');
      return;
    }
    for (const row of rows) {
      this.cursor = row.seq;
      this.inflight.add(row.seq);
      client.publish(row.topic, wirePayload(row), { qos: 1, retain: row.retain }, (err) => {
        if (gen !== this.generation) return;
        if (!err) return this.acked(row.seq);
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number' && code >= 0x80) {
          // The broker answered and refused this message (MQTT 5 PUBACK reason, e.g. 0x87 not authorized by
          // its ACL). Re-sending cannot help and would block every later event: record it and move on.
          this.deps.log.error({ seq: row.seq, topic: row.topic, reasonCode: code, error: err.message }, 'broker refused an event; check its ACL for this topic');
          this.deps.state.mqtt.rejected++;
          return this.acked(row.seq);
        }
        // Anything else leaves the fate of this message unknown: start over from the oldest unmarked row.
        this.deps.log.warn({ seq: row.seq, error: err.message }, 'publish failed; reconnecting');
        client.end(true);
      });
    }
  }

  private acked(seq: number): void {
    try {
      this.deps.outbox.markSent(seq, this.deps.clock.now());
    } catch (err) {
      // The row stays pending and goes out again after the next reconnect: a duplicate, never a loss.
      this.deps.log.error({ seq, error: errorMessage(err) }, 'cannot mark an acknowledged event as sent');
    }
    this.inflight.delete(seq);
    this.deps.state.mqtt.published++;
    if (this.inflight.size === 0 && this.drained) {
      this.drained();
      this.drained = undefined;
    }
    if (!this.stopped) this.pump();
  }

  private async onCommand(client: MqttClient, topics: Topics, payload: Buffer, packet: IPublishPacket): Promise<void> {
    this.deps.state.mqtt.commands++;
    let reply: CommandReply;
    try {
      reply = await this.deps.commands.handle({ payload, retain: packet.retain });
    } catch (err) {
      reply = { id: null, ok: false, error: { code: 'FAILED', message: errorMessage(err) } };
    }
    const log = this.deps.log;
    if (reply.ok) log.info({ command: reply.command, id: reply.id }, 'MQTT command done');
    else log.warn({ command: reply.command, id: reply.id, error: reply.error }, 'MQTT command refused');
    const props = packet.properties;
    // MQTT 5 request/response: honour the requester's response topic and correlation data when given.
    const responseTopic = props?.responseTopic && !/[#+]/.test(props.responseTopic) ? props.responseTopic : topics.replies();
    const opts = props?.correlationData ? { qos: 1 as const, properties: { correlationData: props.correlationData } } : { qos: 1 as const };
    client.publish(responseTopic, JSON.stringify(reply), opts);
  }
}
