import { z } from 'zod';

export const rolloutsConfigSchema = z
  .strictObject({
    dir: z.string().default('config/rollouts').describe('Directory of rollout YAML files'),
  })
  .describe('Rollouts');
export type RolloutsConfig = z.infer<typeof rolloutsConfigSchema>;
