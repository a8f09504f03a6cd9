import { z } from 'zod';

export const mqttConfigSchema = z
  .strictObject({
    url: z.string().describe('Broker URL, e.g. mqtt://localhost:1883 or mqtts://broker:8883'),
    topicPrefix: z.string().default('furrow').describe('Topics are <topicPrefix>/<gateway id>/...'),
  })
  .describe('MQTT telemetry; omit or set to null to disable');

export const metricsConfigSchema = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464).describe('HTTP port for /metrics, /healthz, /readyz; 0 disables'),
  })
  .describe('Prometheus metrics and health endpoints');
export type MqttConfig = z.infer<typeof mqttConfigSchema>;
export type MetricsConfig = z.infer<typeof metricsConfigSchema>;
