import { z } from 'zod';
import { isValidTimeZone } from './tz.ts';
import { bytesSchema } from './units.ts';

const ceNumbers = (def: [number, number, number], what: string) =>
  z
    .strictObject({ ce0: z.number().positive(), ce1: z.number().positive(), ce2: z.number().positive() })
    .default({ ce0: def[0], ce1: def[1], ce2: def[2] })
    .describe(`${what}, per coverage enhancement level (CE0 good coverage .. CE2 deep indoor)`);

const simBudgetSchema = z
  .strictObject({
    dailyBytes: bytesSchema.optional().describe('SIM data allowed per calendar day (schedule.timezone), e.g. "5MB"'),
    monthlyBytes: bytesSchema.optional().describe('SIM data allowed per calendar month, e.g. "100MB"'),
  })
  .describe('Data plan of the SIM this bearer sends through; counted with IP/UDP overhead');

const loraBearerSchema = z.strictObject({
  kind: z.literal('lora'),
  region: z.enum(['eu868', 'us915']).describe('Regulatory region: eu868 enforces sub-band duty cycles, us915 the 400 ms dwell time'),
  subBand: z.enum(['g', 'g1', 'g2', 'g3', 'g4']).default('g3').describe('EU868 sub-band the downlink uses (g3 = 869.4-869.65 MHz, 10 %)'),
  sf: z.number().int().min(7).max(12).default(7).describe('Spreading factor of the downlink'),
  bwKhz: z.union([z.literal(125), z.literal(250), z.literal(500)]).default(125),
  cr: z.number().int().min(1).max(4).default(1).describe('Coding rate 4/(4+cr)'),
  preamble: z.number().int().min(6).max(65535).default(8),
  explicitHeader: z.boolean().default(true),
  crc: z.boolean().default(false).describe('Payload CRC; LoRaWAN downlinks send none'),
  lowDataRateOptimize: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  frameOverheadBytes: z.number().int().min(0).max(64).default(13).describe('Bytes added to each datagram on air (LoRaWAN MHDR+FHDR+FPort+MIC = 13)'),
  burstMs: z.number().positive().default(2000).describe('Airtime the pacing bucket may save up, ms; the hourly duty cycle limit applies on top'),
  maxConcurrentTransfers: z.number().int().min(1).default(2).describe('Devices downloading at once; more only adds waiting'),
  controlReservePercent: z
    .number()
    .min(0)
    .max(50)
    .default(5)
    .describe('Share of the hourly duty cycle patch blocks leave free for replies that are not asked about (check-ins, ACKs)'),
  idleCheckinSeconds: z
    .number()
    .int()
    .min(60)
    .default(86_400)
    .describe('A device with nothing to do is told to check in again after this long: on a duty cycle every check-in answer is airtime'),
  sim: simBudgetSchema.optional(),
});

const cellularBearerSchema = z.strictObject({
  kind: z.enum(['nbiot', 'ltem']),
  bytesPerSecond: ceNumbers([2500, 800, 150], 'Downlink bytes per second one transfer gets'),
  rttMs: z.number().positive().default(2000).describe('Round trip time of one request/response'),
  maxConcurrent: ceNumbers([8, 4, 1], 'Concurrent transfers allowed in one cell'),
  linkBytesPerSecond: z.number().positive().optional().describe('What the gateway modem can push in total, bytes/s (token bucket)'),
  datagramOverheadBytes: z.number().int().min(0).default(28).describe('IP + UDP header bytes per datagram, counted against the SIM budget'),
  edrxCycleSeconds: z.number().positive().optional().describe('Devices are reachable only at multiples of this eDRX/PSM cycle; "come back" times are rounded up to it'),
  sim: simBudgetSchema.optional(),
});

const udpBearerSchema = z.strictObject({
  kind: z.literal('udp'),
  linkBytesPerSecond: z.number().positive().optional(),
  sim: simBudgetSchema.optional(),
});

export const bearerModelSchema = z.discriminatedUnion('kind', [loraBearerSchema, cellularBearerSchema, udpBearerSchema]);
export type BearerModelConfig = z.infer<typeof bearerModelSchema>;
export type LoraBearerConfig = z.infer<typeof loraBearerSchema>;
export type CellularBearerConfig = z.infer<typeof cellularBearerSchema>;

export const scheduleConfigSchema = z
  .strictObject({
    timezone: z
      .string()
      .refine(isValidTimeZone, { message: 'unknown time zone; use an IANA name such as Europe/Berlin or UTC' })
      .default('UTC')
      .describe('IANA time zone for daily/monthly data budgets (e.g. Europe/Berlin)'),
    bearers: z
      .record(z.string(), bearerModelSchema)
      .default({})
      .describe('Radio model per bearer name (as the CoAP layer names it); a bearer not listed is not limited'),
    grantIdleSeconds: z.number().positive().default(120).describe('A granted transfer slot is given back after this long without a block'),
  })
  .describe('Radio scheduling: duty cycles, budgets');
export type ScheduleConfig = z.infer<typeof scheduleConfigSchema>;
