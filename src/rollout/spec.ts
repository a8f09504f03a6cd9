import { z } from 'zod';
import { isValidTimeZone } from '../schedule/tz.ts';
import { bytesSchema, durationSchema } from '../schedule/units.ts';

const percent = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const m = typeof v === 'number' ? [String(v), String(v)] : /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    const n = m ? Number(m[1]) : NaN;
    if (!(n >= 0 && n <= 100)) {
      ctx.addIssue({ code: 'custom', message: `expected a percentage like 10% (0-100), got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n / 100;
  });

/** "5" devices, "10%" of the selected devices, or "rest". */
const waveSize = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 1) return { count: v } as const;
  } else if (v.trim() === 'rest') return { rest: true } as const;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (m && Number(m[1]) > 0 && Number(m[1]) <= 100) return { percent: Number(m[1]) } as const;
  }
  ctx.addIssue({ code: 'custom', message: `wave size must be a device count (1 or more), a percentage like "10%", or "rest"; got ${JSON.stringify(v)}` });
  return z.NEVER;
});
export type WaveSize = { count: number } | { percent: number } | { rest: true };

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a time of day as HH:MM (00:00-24:00)');
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const windowSchema = z.strictObject({
  days: z.array(z.enum(DAYS)).min(1).default([...DAYS]).describe('Days the window applies to (by its start), default every day'),
  from: hhmm,
  to: hhmm.describe('End; before "from" means the window runs past midnight'),
  reason: z.string().optional(),
});
export type TimeWindow = z.infer<typeof windowSchema>;

const haltSchema = z.strictObject({
  maxFailureRate: percent.default(0.1).describe('Halt when more than this share of a wave\'s finished devices failed'),
  maxRollbacks: z.number().int().min(0).default(3).describe('Halt when this many devices rolled back (whole rollout)'),
  minFinished: z.number().int().min(1).default(5).describe('Judge the failure rate only once this many devices of the wave finished'),
});

export const rolloutSpecSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", at most 64').optional().describe('Defaults to the file name without .yaml'),
    description: z.string().optional(),
    release: z
      .strictObject({
        product: z.string().min(1),
        version: z.string().min(1).optional(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits').optional(),
      })
      .refine((r) => r.version !== undefined || r.sha256 !== undefined, { message: 'name the release by version or sha256' }),
    select: z
      .strictObject({
        labels: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)])).optional().describe('Every label must match (a list means any of)'),
        hwRev: z.array(z.string()).min(1).optional(),
        runningVersions: z.array(z.string()).min(1).optional().describe('Only devices running one of these versions'),
        devices: z.array(z.string()).min(1).optional().describe('Only these device ids'),
        exclude: z.array(z.string()).optional().describe('Never these device ids'),
      })
      .prefault({}),
    waves: z
      .array(
        z.strictObject({
          name: z.string().optional(),
          size: waveSize,
          soak: durationSchema.default(0).describe('Wait this long after the wave finished before the next one starts'),
          proceedAt: percent.default(1).describe('Share of the wave that must have finished before its soak starts'),
          maxFailureRate: percent.optional(),
        }),
      )
      .min(1, 'a rollout needs at least one wave'),
    halt: haltSchema.prefault({}),
    windows: z
      .strictObject({
        timezone: z.string().refine(isValidTimeZone, { message: 'unknown time zone; use an IANA name such as Europe/Berlin' }).default('UTC'),
        deny: z.array(windowSchema).default([]).describe('No updates start in these windows (e.g. milking 05:00-07:30)'),
        allow: z.array(windowSchema).default([]).describe('If any, updates start only inside these windows'),
      })
      .prefault({}),
    budget: bytesSchema.optional().describe('Most bytes this rollout may send in total (patches and images offered)'),
    priority: z.number().int().min(-1000).max(1000).default(0).describe('Higher goes first where rollouts compete for a bearer'),
    deadline: z.iso.datetime({ offset: true }).optional().describe('After this instant no new device starts; the rollout ends as expired'),
    delivery: z
      .strictObject({
        lora: z
          .enum(['unicast', 'multicast'])
          .default('unicast')
          .describe('multicast: LoRa devices of a wave that need the same patch get it in one TS005/TS004 session (src/bearer/lora/README.md)'),
        minGroupSize: z.number().int().min(2).max(4096).default(10).describe('Fewest LoRa devices needing the same patch for a multicast session; fewer go by unicast'),
      })
      .optional()
      .describe('How the patch reaches devices; absent = unicast CoAP on every bearer'),
  })
  .superRefine((spec, ctx) => {
    const rest = spec.waves.findIndex((w) => 'rest' in w.size);
    if (rest !== -1 && rest !== spec.waves.length - 1) {
      ctx.addIssue({ code: 'custom', path: ['waves', rest, 'size'], message: '"rest" may only be the size of the last wave' });
    }
    const pct = spec.waves.reduce((s, w) => s + ('percent' in w.size ? (w.size as { percent: number }).percent : 0), 0);
    if (pct > 100 + 1e-9) ctx.addIssue({ code: 'custom', path: ['waves'], message: `wave percentages add up to ${pct}%, more than 100%` });
  });

export type RolloutSpec = z.infer<typeof rolloutSpecSchema> & { id: string };
