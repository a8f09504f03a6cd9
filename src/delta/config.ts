import { z } from 'zod';

export const deltaConfigSchema = z
  .strictObject({
    minSavingsPercent: z
      .number()
      .min(0)
      .max(100)
      .default(20)
      .describe('Serve the full image unless the patch is at least this many percent smaller than the compressed full image'),
    stagingBytes: z
      .number()
      .int()
      .min(16384)
      .max(2097152)
      .default(65536)
      .describe("Largest compressed chunk a device must stage in flash (its staging area); chunks are cut to fit (patch header max_body_len)"),
    chunkBytes: z
      .number()
      .int()
      .min(4096)
      .max(1048576)
      .default(1048576)
      .describe(
        'Largest output of one patch chunk (patch header chunk_size; FORMAT.md 3). A device applies a chunk in one go and after a power cut applies it again from its start, so a fleet whose power cuts come more often than one chunk apply (battery devices) needs smaller chunks: 65536 costs 1.5-9 % more patch bytes on the corpus. Patches already built keep theirs',
      ),
    formatVersion: z
      .union([z.literal(1), z.literal(2)])
      .default(2)
      .describe('Highest furrow patch format the gateway builds: 2 adds pointer prediction (FORMAT.md 5.2, smaller patches). Devices whose check-in says they decode less (key 10; older firmware sends none = 1) get a patch of their own format either way'),
    buildOnRelease: z
      .boolean()
      .default(true)
      .describe('Build patches from every image the fleet runs as soon as a release is added'),
  })
  .describe('Delta patch building');
export type DeltaConfig = z.infer<typeof deltaConfigSchema>;
