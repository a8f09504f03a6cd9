import { z } from 'zod';

export const coapConfigSchema = z
  .strictObject({
    host: z.string().default('::').describe('Address to bind; "::" listens on IPv6 and IPv4'),
    port: z.number().int().min(0).max(65535).default(5683).describe('UDP port for CoAP (0 picks a free port)'),
    maxBlockSize: z
      .union([z.literal(16), z.literal(32), z.literal(64), z.literal(128), z.literal(256), z.literal(512), z.literal(1024)])
      .default(1024)
      .describe('Largest Block2 size served (bytes); a bearer with smaller datagrams lowers it further'),
    maxRequestPayload: z.number().int().min(64).max(1024).default(512).describe('Largest POST body (check-in, report) in bytes; larger gets 4.13'),
    buildRetrySeconds: z.number().int().min(1).max(86_400).default(60).describe('Seconds a device is told to wait while its patch is being built'),
    rateLimit: z
      .strictObject({
        perSecond: z.number().min(0.1).max(100_000).default(100).describe('Sustained requests per second per peer (address and port)'),
        burst: z.number().int().min(1).max(100_000).default(200).describe('Requests a peer may send at once before the rate applies'),
      })
      .prefault({})
      .describe('Per-peer rate limit; requests above it are dropped (CoAP clients back off and retransmit)'),
    transfers: z
      .strictObject({
        flushEveryBlocks: z.number().int().min(1).max(100_000).default(256).describe('Write transfer offsets to the database after this many blocks'),
        flushIntervalMs: z.number().int().min(100).max(60_000).default(2000).describe('... or after this many milliseconds, whichever comes first'),
      })
      .prefault({})
      .describe('Batched transfer progress writes: a crash loses at most one batch'),
    progressIntervalMs: z.number().int().min(0).max(600_000).default(2000).describe('transfer.progress events at most this often per transfer'),
  })
  .describe('CoAP server');
export type CoapConfig = z.infer<typeof coapConfigSchema>;
