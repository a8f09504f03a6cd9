import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.ts';
import { CommandProcessor, MAX_COMMAND_BYTES, rolloutEngineMissing, type CommandHandlers } from '../../../src/telemetry/commands.ts';

function recorder(): { calls: string[]; handlers: CommandHandlers } {
  const calls: string[] = [];
  return {
    calls,
    handlers: {
      pauseRollout: (id, reason) => {
        calls.push(`pause ${id} ${reason ?? '-'}`);
        return { state: 'paused' };
      },
      resumeRollout: (id) => {
        calls.push(`resume ${id}`);
        return { state: 'running' };
      },
      haltRollout: (id, reason) => {
        if (id === 'ghost') throw new InputError('ROLLOUT_UNKNOWN', `no rollout named ${id}`);
        calls.push(`halt ${id} ${reason}`);
        return { state: 'halted' };
      },
    },
  };
}

const msg = (v: unknown, retain = false) => ({ payload: Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)), retain });

describe('CommandProcessor', () => {
  it('runs an allowed, well-formed command and echoes its correlation id', async () => {
    const r = recorder();
    const p = new CommandProcessor(() => r.handlers, () => ({}));
    const reply = await p.handle(msg({ id: 'c1', command: 'rollout.pause', rollout: 'spring', reason: 'milking' }));
    expect(reply).toEqual({ id: 'c1', ok: true, command: 'rollout.pause', result: { state: 'paused' } });
    expect(r.calls).toEqual(['pause spring milking']);
  });

  it.each([
    ['not JSON', '{"id": "x", command', 'BAD_JSON', null],
    ['an unknown command', { id: 'x1', command: 'rollout.delete', rollout: 'a' }, 'NOT_ALLOWED', 'x1'],
    ['no command at all', { id: 'x2' }, 'NOT_ALLOWED', 'x2'],
    ['a JSON array', [1, 2], 'NOT_ALLOWED', null],
    ['a missing rollout id', { id: 'x3', command: 'rollout.resume' }, 'BAD_COMMAND', 'x3'],
    ['a halt without a reason', { id: 'x4', command: 'rollout.halt', rollout: 'a' }, 'BAD_COMMAND', 'x4'],
    ['an extra field', { id: 'x5', command: 'rollout.resume', rollout: 'a', force: true }, 'BAD_COMMAND', 'x5'],
    ['a numeric id', { id: 5, command: 'status' }, 'BAD_COMMAND', null],
    ['a wrong type', { id: 'x6', command: 'rollout.pause', rollout: 42 }, 'BAD_COMMAND', 'x6'],
  ])('refuses %s with an error reply and no action', async (_what, input, code, id) => {
    const r = recorder();
    const p = new CommandProcessor(() => r.handlers, () => ({}));
    const reply = await p.handle(msg(input));
    expect(reply.ok).toBe(false);
    expect(reply.id).toBe(id);
    if (!reply.ok) {
      expect(reply.error.code).toBe(code);
      expect(reply.error.message.length).toBeGreaterThan(10);
    }
    expect(r.calls).toEqual([]);
  });

  it('names the offending field in a schema error', async () => {
    const p = new CommandProcessor(() => recorder().handlers, () => ({}));
    const reply = await p.handle(msg({ id: 'x', command: 'rollout.halt', rollout: 'a' }));
    expect(!reply.ok && reply.error.message).toMatch(/rollout\.halt: reason/);
  });

  it('refuses a retained command even when it is well-formed', async () => {
    const r = recorder();
    const p = new CommandProcessor(() => r.handlers, () => ({}));
    const reply = await p.handle(msg({ id: 'r1', command: 'rollout.resume', rollout: 'a' }, true));
    expect(reply).toMatchObject({ id: 'r1', ok: false, error: { code: 'RETAINED' } });
    expect(r.calls).toEqual([]);
  });

  it('refuses an oversized command before parsing it', async () => {
    const p = new CommandProcessor(() => recorder().handlers, () => ({}));
    const reply = await p.handle({ payload: Buffer.alloc(MAX_COMMAND_BYTES + 1, 0x20), retain: false });
    expect(reply).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
  });

  it('answers a redelivered command id from memory instead of running it twice', async () => {
    const r = recorder();
    const p = new CommandProcessor(() => r.handlers, () => ({}));
    const cmd = { id: 'same', command: 'rollout.resume', rollout: 'a' };
    await p.handle(msg(cmd));
    const again = await p.handle(msg(cmd));
    expect(again).toMatchObject({ id: 'same', ok: true, duplicate: true });
    expect(r.calls).toEqual(['resume a']);
  });

  it('turns a handler error into an error reply with its code', async () => {
    const p = new CommandProcessor(() => recorder().handlers, () => ({}));
    const reply = await p.handle(msg({ id: 'h', command: 'rollout.halt', rollout: 'ghost', reason: 'x' }));
    expect(reply).toMatchObject({ ok: false, command: 'rollout.halt', error: { code: 'ROLLOUT_UNKNOWN', message: 'no rollout named ghost' } });
  });

  it('refuses rollout commands clearly while no rollout engine is wired', async () => {
    const p = new CommandProcessor(() => rolloutEngineMissing, () => ({}));
    const reply = await p.handle(msg({ id: 'm', command: 'rollout.pause', rollout: 'a' }));
    expect(reply).toMatchObject({ ok: false, error: { code: 'ROLLOUT_ENGINE_MISSING' } });
  });

  it('answers status with the snapshot it is given', async () => {
    const p = new CommandProcessor(() => rolloutEngineMissing, () => ({ gateway: 'g1' }));
    expect(await p.handle(msg({ id: 's', command: 'status' }))).toEqual({ id: 's', ok: true, command: 'status', result: { gateway: 'g1' } });
  });
});

describe('CommandProcessor on arbitrary input', () => {
  it('answers every input with a reply and acts only on commands that pass the schema', async () => {
    const fc = await import('fast-check');
    const { commandSchema } = await import('../../../src/telemetry/commands.ts');
    const r = recorder();
    const p = new CommandProcessor(() => r.handlers, () => ({}), 0);
    const nearMiss = fc.record(
      {
        id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        command: fc.constantFrom('rollout.pause', 'rollout.resume', 'rollout.halt', 'status', 'rollout.abort', 'exec', ''),
        rollout: fc.oneof(fc.string(), fc.integer()),
        reason: fc.oneof(fc.string(), fc.boolean()),
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    );
    let acted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          nearMiss.map((o) => Buffer.from(JSON.stringify(o))),
          fc.record({ id: fc.string({ minLength: 1, maxLength: 64 }), command: fc.constant('rollout.pause'), rollout: fc.string({ minLength: 1, maxLength: 64 }) }).map((o) => Buffer.from(JSON.stringify(o))),
        ),
        fc.boolean(),
        async (payload, retain) => {
        const before = r.calls.length;
        const reply = await p.handle({ payload, retain });
        expect(typeof reply.ok).toBe('boolean');
        let parsed: ReturnType<typeof commandSchema.safeParse> | undefined;
        try {
          parsed = retain ? undefined : commandSchema.safeParse(JSON.parse(payload.toString('utf8')));
        } catch {
          parsed = undefined;
        }
        if (!parsed?.success) {
          expect(reply.ok).toBe(false);
          expect(r.calls.length).toBe(before);
          return;
        }
        const cmd = parsed.data;
        const acts = cmd.command !== 'status' && !(cmd.command === 'rollout.halt' && cmd.rollout === 'ghost');
        // With no memory of recent ids (limit 0) every valid command runs exactly once.
        expect(r.calls.length).toBe(before + (acts ? 1 : 0));
        if (acts) acted++;
      }),
      { numRuns: 2000 },
    );
    // The generator reaches valid commands too, so the property above was checked on both sides.
    expect(acted).toBeGreaterThan(0);
  });
});
