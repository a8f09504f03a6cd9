import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { closest } from './did-you-mean.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';

/**
 * The YAML side of every operator-edited file (furrow.yaml, rollout files): parse to a plain mapping
 * and turn schema failures into file:line:col issues anchored at the node they concern. One place, so
 * both files report problems the same way and both get the same guards (duplicate keys, alias bombs).
 */
export interface YamlMapping {
  doc: Document;
  lc: LineCounter;
  raw: Record<string, unknown>;
}

/** Parses `text` and requires a mapping at the top level; syntax errors throw ConfigError with positions. */
export function parseYamlMapping(text: string, file: string, topLevelHint: string): YamlMapping {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = doc.errors.map((e) => ({ file, ...lc.linePos(e.pos[0]), path: '', message: e.message.split('\n')[0]! }));
  if (issues.length > 0) throw new ConfigError(file, issues);
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // yaml refuses alias bombs ("billion laughs") with a ReferenceError; report it like any other problem.
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: '', message: `cannot expand the document: ${(err as Error).message}` }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: '', message: `expected a mapping ${topLevelHint} at the top level` }]);
  }
  return { doc, lc, raw: raw as Record<string, unknown> };
}

/** Schema issues as positioned ConfigIssues (parse with `reportInput: true` for the "got ..." part). */
export function schemaIssues(schema: z.ZodType, error: z.ZodError, y: YamlMapping, file: string): ConfigIssue[] {
  return error.issues.flatMap((issue) => describeIssue(schema, issue, y, file));
}

/** Anchors a problem found after parsing (e.g. against the database) at the node it concerns. */
export function issueAt(file: string, text: string, path: Array<string | number>, message: string): ConfigIssue {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return { file, ...position(deepestNode(doc, path.map(String)), doc, lc), path: path.join('.'), message };
}

function describeIssue(schema: z.ZodType, issue: z.core.$ZodIssue, { doc, lc }: YamlMapping, file: string): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, path);
    return issue.keys.map((key) => {
      const hint = closest(key, known);
      return {
        file,
        ...position(keyNode(doc, [...path, key]), doc, lc),
        path: [...path, key].join('.'),
        message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}${known.length ? `; expected one of: ${known.join(', ')}` : ''}`,
      };
    });
  }
  return [{ file, ...position(deepestNode(doc, path), doc, lc), path: path.join('.'), message: issueMessage(issue, doc, path) }];
}

function issueMessage(issue: z.core.$ZodIssue, doc: Document, path: string[]): string {
  if (issue.code === 'invalid_type') {
    if (issue.input !== undefined) return `expected ${issue.expected}, got ${describeValue(issue.input)}`;
    // zod leaves `input` out for a missing key; the document says whether the key is there at all.
    if (!doc.hasIn(path)) return `missing required setting (expected ${issue.expected})`;
    return `expected ${issue.expected}, got ${describeValue(doc.getIn(path))}`;
  }
  if (issue.code === 'invalid_value' && issue.input !== undefined) return `${issue.message}, got ${describeValue(issue.input)}`;
  return issue.message;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v) || (isNode(v) && !isMap(v) && !isScalar(v))) return 'a list';
  if (isMap(v) || typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Keys allowed at a path, by walking the schema through wrappers. */
function knownKeys(schema: z.ZodType, path: string[]): string[] {
  let cur: z.ZodType | undefined = schema;
  for (const seg of [...path, null]) {
    cur = unwrap(cur);
    if (!cur) return [];
    if (seg === null) break;
    if (cur instanceof z.ZodObject) cur = (cur.shape as Record<string, z.ZodType>)[seg];
    else if (cur instanceof z.ZodRecord) cur = cur._zod.def.valueType as z.ZodType;
    else if (cur instanceof z.ZodArray) cur = cur.element as z.ZodType;
    else return [];
  }
  return cur instanceof z.ZodObject ? Object.keys(cur.shape) : [];
}

function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s;
  for (let i = 0; i < 10 && cur; i++) {
    const def = cur._zod.def as { innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType) cur = def.innerType;
    else if (cur instanceof z.ZodPipe && def.in) cur = def.in;
    else break;
  }
  return cur;
}

function keyNode(doc: Document, path: string[]): unknown {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === path.at(-1)) return pair.key;
    }
  }
  return parent;
}

function deepestNode(doc: Document, path: string[]): unknown {
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (isNode(node)) return node;
  }
  return doc.contents;
}

function position(node: unknown, doc: Document, lc: LineCounter): { line: number; col: number } {
  const range = isNode(node) ? node.range : isNode(doc.contents) ? doc.contents.range : undefined;
  if (!range) return { line: 1, col: 1 };
  return lc.linePos(range[0]);
}
