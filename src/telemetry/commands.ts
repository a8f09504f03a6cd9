import { z } from 'zod';
import { FurrowError } from '../errors.ts';

/**
 * What MQTT commands may do. The rollout engine implements the rollout verbs; until it is wired the daemon
 * uses `rolloutEngineMissing`, which refuses them with a clear error.
 */
export interface CommandHandlers {
  pauseRollout(rolloutId: string, reason: string | undefined): unknown;
  resumeRollout(rolloutId: string): unknown;
  haltRollout(rolloutId: string, reason: string): unknown;
}

export const rolloutEngineMissing: CommandHandlers = {
  pauseRollout: missing,
  resumeRollout: missing,
  haltRollout: missing,
};

function missing(): never {
  throw new FurrowError('ROLLOUT_ENGINE_MISSING', 'this daemon runs no rollout engine, so rollout commands cannot act', {
    hint: 'upgrade furrow or check the daemon log for a rollout service start failure',
  });
}

/** The allow-list: anything else is refused before a handler is looked up. */
export const ALLOWED_COMMANDS = ['rollout.pause', 'rollout.resume', 'rollout.halt', 'status'] as const;
export const MAX_COMMAND_BYTES = 4096;

const id = z.string().min(1).max(128).describe('Correlation id, echoed in the reply');
const rolloutId = z.string().min(1).max(128);
const reason = z.string().min(1).max(500);

export const commandSchema = z.discriminatedUnion('command', [
  z.strictObject({ id, command: z.literal('rollout.pause'), rollout: rolloutId, reason: reason.optional() }),
  z.strictObject({ id, command: z.literal('rollout.resume'), rollout: rolloutId }),
  z.strictObject({ id, command: z.literal('rollout.halt'), rollout: rolloutId, reason }),
  z.strictObject({ id, command: z.literal('status') }),
]);
export type Command = z.infer<typeof commandSchema>;

export type CommandReply =
  | { id: string | null; ok: true; command: string; result: unknown; duplicate?: true }
  | { id: string | null; ok: false; command?: string; error: { code: string; message: string } };

export interface CommandInput {
  payload: Buffer;
  retain: boolean;
}

/**
 * Checks and runs one command message. Every path ends in a reply; a message that fails any check never
 * reaches a handler. A command id seen recently gets its first reply again without running twice (QoS 1
 * may redeliver, and an operator may retry).
 */
export class CommandProcessor {
  private readonly recent = new Map<string, CommandReply>();

  constructor(
    private handlers: () => CommandHandlers,
    private readonly status: () => unknown,
    private readonly recentLimit = 256,
  ) {}

  async handle(input: CommandInput): Promise<CommandReply> {
    if (input.payload.length > MAX_COMMAND_BYTES) {
      return fail(null, 'TOO_LARGE', `command is ${input.payload.length} bytes; the limit is ${MAX_COMMAND_BYTES}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(input.payload.toString('utf8'));
    } catch (err) {
      return fail(null, 'BAD_JSON', `command is not JSON: ${(err as Error).message}`);
    }
    const corr = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string' ? ((raw as { id: string }).id.slice(0, 128)) : null;
    if (input.retain) {
      // A retained command would run again on every reconnect of every gateway: refuse it outright.
      return fail(corr, 'RETAINED', 'retained command refused: publish commands with retain=false');
    }
    const name = typeof raw === 'object' && raw !== null ? (raw as { command?: unknown }).command : undefined;
    if (typeof name !== 'string' || !(ALLOWED_COMMANDS as readonly string[]).includes(name)) {
      return fail(corr, 'NOT_ALLOWED', `command ${JSON.stringify(name ?? null)} is not allowed; allowed: ${ALLOWED_COMMANDS.join(', ')}`);
    }
    const parsed = commandSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      return fail(corr, 'BAD_COMMAND', `${name}: ${issues}`, name);
    }
    const cmd = parsed.data;
    const seen = this.recent.get(cmd.id);
    if (seen) return seen.ok ? { ...seen, duplicate: true } : seen;
    const reply = await this.run(cmd);
    this.remember(cmd.id, reply);
    return reply;
  }

  private async run(cmd: Command): Promise<CommandReply> {
    try {
      const h = this.handlers();
      let result: unknown;
      switch (cmd.command) {
        case 'rollout.pause':
          result = await h.pauseRollout(cmd.rollout, cmd.reason);
          break;
        case 'rollout.resume':
          result = await h.resumeRollout(cmd.rollout);
          break;
        case 'rollout.halt':
          result = await h.haltRollout(cmd.rollout, cmd.reason);
          break;
        case 'status':
          result = this.status();
          break;
      }
      return { id: cmd.id, ok: true, command: cmd.command, result: result ?? null };
    } catch (err) {
      if (err instanceof FurrowError) return fail(cmd.id, err.code, err.message, cmd.command);
      return fail(cmd.id, 'FAILED', (err as Error).message ?? String(err), cmd.command);
    }
  }

  private remember(key: string, reply: CommandReply): void {
    this.recent.set(key, reply);
    if (this.recent.size > this.recentLimit) this.recent.delete(this.recent.keys().next().value!);
  }
}

function fail(id: string | null, code: string, message: string, command?: string): CommandReply {
  return command ? { id, ok: false, command, error: { code, message } } : { id, ok: false, error: { code, message } };
}
