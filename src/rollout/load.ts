import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config/errors.ts';
import { parseYamlMapping, schemaIssues } from '../config/yaml-document.ts';
import { InputError } from '../errors.ts';
import { rolloutSpecSchema, type RolloutSpec } from './spec.ts';

/**
 * Rollout files: one rollout per YAML file under `rollouts.dir` (config/rollouts/ by default), so
 * `furrow rollout plan <file>` and `apply <file>` name exactly one thing, like a terraform file.
 * Errors are reported at file:line:col the same way furrow.yaml's are (src/config/load.ts pattern).
 */
export function loadRolloutFile(file: string): RolloutSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError('ROLLOUT_UNREADABLE', `cannot read rollout file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'pass the path of a rollout YAML file, e.g. config/rollouts/soil-probe-1.4.2.yaml',
    });
  }
  return parseRolloutText(text, file);
}

const ROLLOUT_HINT = 'fix the lines above; `furrow config check <file>` re-checks a rollout file without touching the database';

const ROLLOUT_ONLY_KEYS = ['release', 'select', 'waves'];

/**
 * Whether a YAML document is a rollout file rather than a gateway config (`furrow config check` takes
 * both): it has a key only rollouts have and none only gateway configs have.
 */
export function looksLikeRollout(text: string, gatewayKeys: string[]): boolean {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return false;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const keys = Object.keys(doc);
  return keys.some((k) => ROLLOUT_ONLY_KEYS.includes(k)) && !keys.some((k) => gatewayKeys.includes(k));
}

export function parseRolloutText(text: string, file: string): RolloutSpec {
  const yaml = parseYamlMapping(text, file, '(release, select, waves, ...)');
  const result = rolloutSpecSchema.safeParse(yaml.raw, { reportInput: true });
  if (!result.success) {
    const issues = schemaIssues(rolloutSpecSchema, result.error, yaml, file);
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(file, issues, ROLLOUT_HINT);
  }
  const id = result.data.id ?? basename(file).replace(/\.ya?ml$/i, '');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: 'id', message: `file name gives the id ${JSON.stringify(id)}, which is not a valid id; set id: explicitly` }], ROLLOUT_HINT);
  }
  return { ...result.data, id };
}

export { issueAt } from '../config/yaml-document.ts';
