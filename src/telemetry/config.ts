import { z } from 'zod';

const tlsSchema = z
  .strictObject({
    ca: z.string().optional().describe('PEM file with the CA that signed the broker certificate; relative to the config file'),
    cert: z.string().optional().describe('PEM client certificate for mutual TLS; relative to the config file'),
    key: z.string().optional().describe('PEM private key of the client certificate; relative to the config file'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Refuse brokers whose certificate does not verify. Only set false on a lab bench.'),
  })
  .describe('TLS settings for mqtts:// URLs');

const outboxSchema = z
  .strictObject({
    maxRows: z
      .number()
      .int()
      .min(100)
      .default(100_000)
      .describe('Most unsent events kept while the broker is unreachable; beyond it the oldest progress events go first, then state updates; results are never dropped'),
    maxAgeHours: z
      .number()
      .positive()
      .default(24 * 30)
      .describe('Unsent progress and state events older than this are dropped (results are kept)'),
    inflight: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(16)
      .describe('QoS 1 messages in flight before waiting for PUBACKs; also the most a consumer can see twice after a crash'),
  })
  .describe('The SQLite outbox every event passes through on its way to the broker');

export const mqttConfigSchema = z
  .strictObject({
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/./, 'an mqtt://, mqtts://, ws:// or wss:// URL').describe('Broker URL, e.g. mqtt://localhost:1883 or mqtts://broker:8883'),
    topicPrefix: z
      .string()
      .regex(/^[^#+]+$/, 'no MQTT wildcards (# or +)')
      .default('furrow')
      .describe('Topics are <topicPrefix>/<gateway id>/...'),
    clientId: z.string().min(1).max(64).optional().describe('MQTT client id; default furrow-<gateway id>'),
    username: z.string().optional(),
    password: z.string().optional().describe('Prefer passwordFile so the secret stays out of this file'),
    passwordFile: z.string().optional().describe('File whose first line is the broker password; relative to the config file'),
    tls: tlsSchema.optional(),
    keepaliveSeconds: z.number().int().min(5).max(3600).default(60),
    reconnectSeconds: z
      .number()
      .positive()
      .max(3600)
      .default(5)
      .describe('First wait before reconnecting after the broker goes away; doubles up to 60 s'),
    progressIntervalSeconds: z
      .number()
      .min(0)
      .default(30)
      .describe('At most one transfer progress event per device in this interval (start and end always go out)'),
    commands: z.boolean().default(true).describe('Accept commands on <prefix>/<gateway>/cmd (pause/resume/halt a rollout, status)'),
    outbox: outboxSchema.prefault({}),
  })
  .describe('MQTT telemetry; omit or set to null to disable');

export const metricsConfigSchema = z
  .strictObject({
    host: z.string().default('127.0.0.1').describe('Address of the HTTP listener; keep it on loopback unless a firewall guards it'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(9464)
      .describe('HTTP port for /metrics, /healthz, /readyz and /status (used by `furrow status`); 0 disables'),
  })
  .describe('Prometheus metrics, health and status endpoints');
export type MqttConfig = z.infer<typeof mqttConfigSchema>;
export type MetricsConfig = z.infer<typeof metricsConfigSchema>;
