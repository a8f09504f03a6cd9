import { z } from 'zod';

export const scheduleConfigSchema = z.strictObject({}).describe('Radio scheduling: duty cycles, budgets');
export type ScheduleConfig = z.infer<typeof scheduleConfigSchema>;
