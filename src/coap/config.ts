import { z } from 'zod';

export const coapConfigSchema = z
  .strictObject({
    host: z.string().default('::').describe('Address to bind; "::" listens on IPv6 and IPv4'),
    port: z.number().int().min(1).max(65535).default(5683).describe('UDP port for CoAP'),
  })
  .describe('CoAP server');
export type CoapConfig = z.infer<typeof coapConfigSchema>;
