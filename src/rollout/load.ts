import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { closest } from '../config/did-you-mean.ts';
import { ConfigError, type ConfigIssue } from '../config/errors.ts';
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

export function parseRolloutText(text: string, file: string): RolloutSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = doc.errors.map((e) => ({ file, ...lc.linePos(e.pos[0]), path: '', message: e.message.split('\n')[0]! }));
  if (issues.length) throw new ConfigError(file, issues);
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: '', message: 'expected a mapping (release, select, waves, ...) at the top level' }]);
  }
  const result = rolloutSpecSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...describe(issue, doc, lc, file));
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(file, issues);
  }
  const id = result.data.id ?? basename(file).replace(/\.ya?ml$/i, '');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: 'id', message: `file name gives the id ${JSON.stringify(id)}, which is not a valid id; set id: explicitly` }]);
  }
  return { ...result.data, id };
}

function describe(issue: z.core.$ZodIssue, doc: Document, lc: LineCounter, file: string): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const known = knownKeys(path);
      const hint = closest(key, known);
      return {
        file,
        ...pos(keyNode(doc, [...path, key]), doc, lc),
        path: [...path, key].join('.'),
        message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}${known.length ? `; expected one of: ${known.join(', ')}` : ''}`,
      };
    });
  }
  let message = issue.message;
  if (issue.code === 'invalid_type') {
    // zod does not always carry the input; the document says whether the key is there at all.
    const present = doc.hasIn(path);
    const value = present ? doc.getIn(path) : undefined;
    message = present
      ? `expected ${issue.expected}, got ${value === null ? 'null' : isMap(value) ? 'a mapping' : isNode(value) ? 'a list' : `${typeof value} ${JSON.stringify(value)}`}`
      : `missing required setting (expected ${issue.expected})`;
  }
  return [{ file, ...pos(deepest(doc, path), doc, lc), path: path.join('.'), message }];
}

function knownKeys(path: string[]): string[] {
  let cur: z.ZodType | undefined = rolloutSpecSchema;
  for (const seg of [...path, null]) {
    for (let i = 0; i < 10 && cur; i++) {
      const def = cur._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
      if (def.innerType) cur = def.innerType;
      else if (cur instanceof z.ZodPipe && def.in) cur = def.in;
      else break;
    }
    if (!cur || seg === null) break;
    if (cur instanceof z.ZodObject) cur = (cur.shape as Record<string, z.ZodType>)[seg];
    else if (cur instanceof z.ZodArray) cur = cur.element as z.ZodType;
    else if (cur instanceof z.ZodRecord) cur = cur._zod.def.valueType as z.ZodType;
    else return [];
  }
  return cur instanceof z.ZodObject ? Object.keys(cur.shape) : [];
}

function keyNode(doc: Document, path: string[]): unknown {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  if (isMap(parent)) for (const p of parent.items) if (isPair(p) && isScalar(p.key) && String(p.key.value) === path.at(-1)) return p.key;
  return parent;
}

function deepest(doc: Document, path: string[]): unknown {
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node)) return node;
  }
  return doc.contents;
}

function pos(node: unknown, doc: Document, lc: LineCounter): { line: number; col: number } {
  const range = isNode(node) ? node.range : isNode(doc.contents) ? doc.contents.range : undefined;
  return range ? lc.linePos(range[0]) : { line: 1, col: 1 };
}

/** Anchors a problem found after parsing (e.g. against the database) at the node it concerns. */
export function issueAt(file: string, text: string, path: Array<string | number>, message: string): ConfigIssue {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return { file, ...pos(deepest(doc, path.map(String)), doc, lc), path: path.join('.'), message };
}
