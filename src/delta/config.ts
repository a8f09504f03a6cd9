import { z } from 'zod';

export const deltaConfigSchema = z
  .strictObject({
    minSavingsPercent: z
      .number()
      .min(0)
      .max(100)
      .default(20)
      .describe('Serve the full image unless the patch is at least this many percent smaller than the compressed full image'),
  })
  .describe('Delta patch building');
export type DeltaConfig = z.infer<typeof deltaConfigSchema>;
