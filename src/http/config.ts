import { z } from 'zod';

const nameSchema = z
  .string()
  .regex(/^([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$|^[0-9.]{7,15}$|^[0-9A-Fa-f:]{2,39}$/, 'a DNS name, an IPv4 or an IPv6 address');

export const httpConfigSchema = z
  .strictObject({
    host: z.string().default('::').describe('Address to bind; "::" listens on IPv6 and IPv4'),
    port: z.number().int().min(0).max(65535).default(8443).describe('HTTPS port (0 picks a free port)'),
    plainPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .nullable()
      .default(null)
      .describe('Plain HTTP port for lab use (firmware URLs and tokens travel in clear); null = off'),
    tls: z
      .strictObject({
        cert: z.string().nullable().default(null).describe('PEM certificate (chain) file; relative to the config file. null = the generated gateway certificate under data.dir/http'),
        key: z.string().nullable().default(null).describe('PEM private key of http.tls.cert; relative to the config file'),
        names: z.array(nameSchema).default([]).describe('Extra DNS names or addresses the generated certificate is issued for (besides localhost, loopback and this host name)'),
      })
      .prefault({})
      .refine((t) => (t.cert === null) === (t.key === null), { message: 'give both http.tls.cert and http.tls.key, or neither (then the gateway generates its own)' })
      .describe('TLS certificate of the HTTPS server'),
    maxConnectionsPerAddress: z.number().int().min(1).max(10_000).default(8).describe('Open connections one client address may hold; more are closed at once'),
    maxHeaderBytes: z.number().int().min(1024).max(65_536).default(8192).describe('Largest request head (request line and headers); larger gets 431'),
    headersTimeoutMs: z.number().int().min(1000).max(300_000).default(10_000).describe('Time a client has to send the whole request head (slowloris); then 408 and the connection closes'),
    requestTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000).describe('Time a client has to send the whole request, body included'),
    idleTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000).describe('A connection with no traffic either way for this long is closed (a stalled download too)'),
    maxBodyBytes: z.number().int().min(64).max(65_536).default(1024).describe('Largest POST body (status reports); larger gets 413'),
  })
  .describe('HTTPS server for stock ESP32 Wi-Fi devices: Arduino HTTPUpdate, esp_https_ota (src/http/HTTP.md)');
export type HttpConfig = z.infer<typeof httpConfigSchema>;
