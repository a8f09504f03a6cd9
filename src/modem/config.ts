import { z } from 'zod';

export const modemConfigSchema = z
  .strictObject({
    port: z.string().describe('Serial device, e.g. /dev/ttyUSB2'),
    baudRate: z.number().int().positive().default(115200),
  })
  .describe('Quectel BC66/BG96 modem; omit to run without one');
export type ModemConfig = z.infer<typeof modemConfigSchema>;
