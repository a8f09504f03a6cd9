import { z } from 'zod';

export const rolloutsConfigSchema = z
  .strictObject({
    dir: z.string().default('config/rollouts').describe('Directory of rollout YAML files (one rollout per file; see config/rollouts/README.md)'),
    unmanaged: z
      .enum(['none', 'newest'])
      .default('none')
      .describe('Devices no rollout covers: "none" = no update (operators decide with rollouts); "newest" = offer the newest release of their product (demos, tests)'),
  })
  .describe('Rollouts');
export type RolloutsConfig = z.infer<typeof rolloutsConfigSchema>;
