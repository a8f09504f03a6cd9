import { z } from 'zod';
import { FURROW_RULES } from './schc/rules.ts';

/** The last application FPort is 223 (LoRaWAN 1.0.4 §4.3.2), so every rule's port must fit below it. */
const HIGHEST_RULE_ID = Math.max(...FURROW_RULES.map((r) => r.id));

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
          .max(223 - HIGHEST_RULE_ID)
          .default(20)
          .describe(`SCHC RuleID r travels on FPort fPortBase + r (RFC 9011); rules 0..${HIGHEST_RULE_ID}, so ports fPortBase..fPortBase+${HIGHEST_RULE_ID}`),
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
        scheduleBearer: z
          .string()
          .min(1)
          .default('lora-mc')
          .describe('schedule.bearers entry (kind lora, the spreading factor of `dr`) whose duty cycle paces the multicast fragments'),
        answerTimeoutSeconds: z.number().int().min(1).default(120).describe('Wait this long for setup/status answers before asking again (Class A devices answer after their next uplink)'),
        maxAttempts: z.number().int().min(1).max(50).default(5).describe('Setup and status requests sent to a member before it is failed over to unicast'),
        repairDeadlineSeconds: z.number().int().min(1).default(3600).describe('After the multicast, how long members get to fetch missing fragments by unicast'),
      })
      .prefault({}),
    clockSync: z
      .strictObject({
        fPort: z.number().int().min(1).max(223).default(202).describe('TS003 clock synchronization port'),
        toleranceSeconds: z.number().int().min(0).max(3600).default(2).describe('AppTimeReq without AnsRequired is answered only when the device clock is off by more than this'),
        resyncTransmissions: z.number().int().min(1).max(7).default(2).describe('NbTransmissions in the ForceDeviceResyncReq the multicast setup sends to devices with an unknown clock'),
        maxAgeHours: z.number().positive().default(24).describe('A device clock synchronised longer ago than this counts as unknown before a multicast session'),
      })
      .prefault({}),
    devices: z
      .record(
        devEui,
        z.strictObject({
          class: z.enum(['A', 'C']).default('A'),
          deviceId: z.string().min(1).optional().describe('furrow device id (`furrow devices add`) of this DevEUI; default: the DevEUI itself'),
          genAppKey: z
            .string()
            .regex(/^[0-9a-fA-F]{32}$/, '32 hex digits (AES-128 key)')
            .optional()
            .describe('LoRaWAN 1.0.x GenAppKey (TS005 §3.3); a device takes part in multicast sessions only with it'),
        }),
      )
      .default({})
      .describe('Per-device facts ChirpStack does not send in every event (Class C capable devices, multicast keys)'),
  })
  .superRefine((c, ctx) => {
    // One handler per FPort: two features on one port would silently take each other's frames.
    const ports: Array<[string, string, number]> = [
      ['multicast', 'setupFPort', c.multicast.setupFPort],
      ['multicast', 'fragFPort', c.multicast.fragFPort],
      ['multicast', 'repairFPort', c.multicast.repairFPort],
      ['clockSync', 'fPort', c.clockSync.fPort],
    ];
    ports.forEach(([section, key, port], i) => {
      const other = ports.slice(0, i).find(([, , p]) => p === port);
      if (other) ctx.addIssue({ code: 'custom', path: [section, key], message: `FPort ${port} is already ${other[0]}.${other[1]}; give each its own port` });
    });
    const ids = new Map<string, string>();
    for (const [eui, d] of Object.entries(c.devices)) {
      const id = d.deviceId ?? eui;
      const prev = ids.get(id);
      if (prev) ctx.addIssue({ code: 'custom', path: ['devices', eui, 'deviceId'], message: `device id ${JSON.stringify(id)} is already DevEUI ${prev}; one furrow device has one DevEUI` });
      ids.set(id, eui);
    }
  })
  .describe('LoRaWAN bearer through ChirpStack v4');

export type LoraConfig = z.infer<typeof loraConfigSchema>;
