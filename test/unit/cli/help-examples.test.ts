/**
 * README promises "every verb has --help with an example". This walks every leaf command of the real
 * program (so a verb added later is covered without touching this file), reads its --help, and parses
 * each `$ furrow ...` example line against the program with the verbs' actions replaced by a recorder:
 * an example with an unknown option, a missing required option or the wrong verb fails here.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/program.ts';

function leaves(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return cmd.commands.flatMap((c) => (c.commands.length === 0 ? [{ path: [...path, c.name()].join(' '), cmd: c }] : leaves(c, [...path, c.name()])));
}

function quiet(cmd: Command, sink: { out: string; err: string }): void {
  cmd.configureOutput({ writeOut: (s) => void (sink.out += s), writeErr: (s) => void (sink.err += s) });
  for (const c of cmd.commands) quiet(c, sink);
}

function help(cmd: Command): string {
  const sink = { out: '', err: '' };
  quiet(cmd, sink);
  cmd.outputHelp();
  return sink.out;
}

/** The argv of a `$ furrow ...` line: shell words up to a comment, redirection or pipe. */
function exampleArgs(line: string): string[] {
  const words: string[] = [];
  for (const m of line.replace(/^\s*\$ furrow\s+/, '').matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    if (m[3] !== undefined && /^(#|>|>>|\||&&)/.test(m[3])) break;
    words.push(m[1] ?? m[2] ?? m[3]!);
  }
  return words;
}

describe('every leaf verb of furrow', () => {
  const all = leaves(buildProgram());

  it('is found by the walk (the walk itself is not empty or shallow)', () => {
    expect(all.length).toBeGreaterThan(20);
    expect(all.map((l) => l.path)).toEqual(expect.arrayContaining(['start', 'release add', 'rollout pause', 'lora multicast cancel', 'keys gateway']));
  });

  it.each(all.map((l) => [l.path, l.cmd] as const))('%s: --help shows an example that parses as that verb', async (path, cmd) => {
    const text = help(cmd);
    expect(text, `furrow ${path} --help`).toMatch(/\nExamples?:\n/);
    const examples = text.split('\n').filter((l) => /^\s*\$ furrow /.test(l));
    expect(examples.length, `furrow ${path} --help has no "$ furrow ..." line`).toBeGreaterThan(0);
    for (const line of examples) {
      const program = buildProgram();
      const sink = { out: '', err: '' };
      quiet(program, sink);
      const ran: string[] = [];
      for (const leaf of leaves(program)) leaf.cmd.action(() => void ran.push(leaf.path));
      await expect(program.parseAsync(exampleArgs(line), { from: 'user' }), `${line.trim()}\n${sink.err}`).resolves.toBeDefined();
      expect(ran, line.trim()).toEqual([path]);
    }
  });
});
