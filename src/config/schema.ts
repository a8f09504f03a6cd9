import { z } from 'zod';
import { loraConfigSchema } from '../bearer/lora/config.ts';
import { coapConfigSchema } from '../coap/config.ts';
import { deltaConfigSchema } from '../delta/config.ts';
import { httpConfigSchema } from '../http/config.ts';
import { lwm2mConfigSchema } from '../lwm2m/config.ts';
import { modemConfigSchema } from '../modem/config.ts';
import { rolloutsConfigSchema } from '../rollout/config.ts';
import { scheduleConfigSchema } from '../schedule/config.ts';
import { metricsConfigSchema, mqttConfigSchema } from '../telemetry/config.ts';

/**
 * The one source of truth for furrow.yaml. Defaults live here (and so in furrow.schema.json);
 * every object is strict so a misspelt key is an error, not a silently ignored setting.
 */
export const configSchema = z
  .strictObject({
    gateway: z
      .strictObject({
        id: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", at most 64')
          .default('gateway')
          .describe('Name of this gateway in MQTT topics and logs'),
      })
      .prefault({}),
    data: z
      .strictObject({
        dir: z.string().default('./data').describe('SQLite database and blob store; relative to this config file\'s directory (FURROW_DATA_DIR: to the working directory)'),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
        pretty: z.boolean().default(false).describe('Human-readable logs instead of JSON lines'),
      })
      .prefault({}),
    releases: z
      .strictObject({
        allowUnsigned: z
          .boolean()
          .default(false)
          .describe('Accept releases without a vendor signature. Only for demos and development.'),
        trustedKeys: z
          .array(z.string())
          .default([])
          .describe("PEM files with release (vendor) public keys; a relative path is resolved from this config file's folder, not the working directory"),
        products: z
          .record(z.string(), z.strictObject({ chip: z.enum(['esp32', 'esp32s2', 'esp32s3', 'esp32c3', 'esp32c2', 'esp32c6', 'esp32h2', 'esp32p4']) }))
          .default({})
          .describe('Known products and the chip each runs on; an image for another chip is refused'),
      })
      .prefault({}),
    coap: coapConfigSchema.prefault({}),
    delta: deltaConfigSchema.prefault({}),
    schedule: scheduleConfigSchema.prefault({}),
    rollouts: rolloutsConfigSchema.prefault({}),
    mqtt: mqttConfigSchema.nullable().default(null),
    metrics: metricsConfigSchema.prefault({}),
    modem: modemConfigSchema.nullable().default(null),
    lora: loraConfigSchema.nullable().default(null).describe('LoRaWAN bearer through ChirpStack v4; null = no LoRa'),
    http: httpConfigSchema.nullable().default(null).describe('HTTPS server for stock ESP32 Wi-Fi devices; null = off'),
    lwm2m: lwm2mConfigSchema.nullable().default(null),
  })
  .describe('furrow gateway configuration');

export type Config = z.infer<typeof configSchema>;
