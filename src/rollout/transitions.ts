import { InputError } from '../errors.ts';
import type { RolloutRepo, RolloutState } from '../store/rollouts.ts';

export type Verb = 'pause' | 'resume' | 'halt' | 'abort';

/** The operator's verbs and the states each may leave from. Everything else is refused with the reason. */
export const VERBS: Record<Verb, { from: readonly RolloutState[]; to: RolloutState }> = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused', 'halted'], to: 'running' },
  halt: { from: ['running', 'paused'], to: 'halted' },
  abort: { from: ['running', 'paused', 'halted'], to: 'aborted' },
};

export function applyVerb(repo: RolloutRepo, id: string, verb: Verb, reason: string | null, now: number): RolloutState {
  const r = repo.get(id);
  if (!r) {
    const known = repo.list().map((x) => x.id);
    throw new InputError('ROLLOUT_UNKNOWN', `no rollout named ${JSON.stringify(id)}`, {
      hint: known.length ? `known rollouts: ${known.join(', ')}` : 'apply one first: furrow rollout apply <file>',
    });
  }
  const rule = VERBS[verb];
  if (!rule.from.includes(r.state)) {
    throw new InputError('ROLLOUT_STATE', `cannot ${verb} rollout ${id}: it is ${r.state}`, {
      hint: `${verb} works on a rollout that is ${rule.from.join(' or ')}`,
    });
  }
  if (!repo.transition(id, rule.from, rule.to, reason ?? `${verb} by operator`, now)) {
    throw new InputError('ROLLOUT_STATE', `rollout ${id} changed state meanwhile; run furrow rollout status ${id} and retry`);
  }
  return rule.to;
}
