import { z } from 'zod';

const devEui = z
  .string()
  .regex(/^[0-9a-fA-F]{16}$/, '16 hex digits (EUI-64)')
  .transform((s) => s.toLowerCase());

export const loraConfigSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9_-]{1,32}$/).default('lora').describe('Bearer name in logs, metrics and the transfer table'),
    region: z.literal('EU868').default('EU868').describe('LoRaWAN regional parameters (only EU868 so far)'),
    chirpstack: z
      .strictObject({
        mqttUrl: z.string().default('mqtt://127.0.0.1:1883').describe("URL of the MQTT broker ChirpStack's MQTT integration publishes to"),
        username: z.string().optional(),
        password: z.string().optional(),
        applicationId: z.string().min(1).describe('ChirpStack v4 application id (UUID) whose devices furrow updates'),
        topicPrefix: z
          .string()
          .regex(/^([^#+]*\/)?$/, 'empty or ending in "/", without MQTT wildcards')
          .default('')
          .describe('Prepended to "application/<id>/device/<devEui>/..." when ChirpStack runs with a custom topic template'),
        apiUrl: z
          .string()
          .url()
          .nullable()
          .default(null)
          .describe('ChirpStack REST API (chirpstack-rest-api) base URL; needed only for multicast (group setup and queue)'),
        apiToken: z.string().nullable().default(null).describe('API key for the REST API (Authorization: Bearer)'),
      })
      .describe('ChirpStack v4 network server'),
    unicast: z
      .strictObject({
        fPortBase: z
          .number()
          .int()
          .min(1)
          .max(211)
          .default(20)
          .describe('SCHC RuleID r travels on FPort fPortBase + r (RFC 9011); rules 0..11, so ports fPortBase..fPortBase+11'),
        defaultDr: z.number().int().min(0).max(7).default(0).describe('Data rate assumed for a device until its first uplink says otherwise'),
      })
      .prefault({}),
    multicast: z
      .strictObject({
        fragFPort: z.number().int().min(1).max(223).default(201).describe('TS004 fragmentation port'),
        setupFPort: z.number().int().min(1).max(223).default(200).describe('TS005 multicast setup port'),
        repairFPort: z.number().int().min(1).max(223).default(205).describe('furrow repair requests (missing fragments after a session)'),
        dr: z.number().int().min(0).max(7).default(5).describe('Data rate of the Class C multicast session'),
        frequencyHz: z.number().int().min(863_000_000).max(870_000_000).default(869_525_000).describe('Downlink frequency of the session'),
        redundancy: z.number().min(0).max(2).default(0.2).describe('Parity fragments sent, as a fraction of the uncoded ones'),
        maxLostPerDevice: z.number().int().min(1).max(4096).default(128).describe('Lost fragments a device decoder can hold (sizes its RAM)'),
        setupTimeoutSeconds: z.number().int().min(1).default(3600).describe('How long to wait for group members to answer the setup'),
      })
      .prefault({}),
    devices: z
      .record(devEui, z.strictObject({ class: z.enum(['A', 'C']).default('A') }))
      .default({})
      .describe('Per-device facts ChirpStack does not send in every event (Class C capable devices)'),
  })
  .describe('LoRaWAN bearer through ChirpStack v4');

export type LoraConfig = z.infer<typeof loraConfigSchema>;
