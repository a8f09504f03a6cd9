import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { closest } from './did-you-mean.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { configSchema, type Config } from './schema.ts';

/** The config shipped with the package: runs out of the box (data under ./data, CoAP on 5683). */
export const EMBEDDED_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/furrow.yaml');

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file it came from. */
  file: string;
}

/** `./config/furrow.yaml` in the working directory if present, else the embedded default. */
export function defaultConfigPath(cwd = process.cwd()): string {
  const local = resolve(cwd, 'config/furrow.yaml');
  return existsSync(local) ? local : EMBEDDED_CONFIG;
}

/**
 * Environment overrides, applied on top of the file before validation so they are checked the same way.
 * Only the settings an operator changes per machine: where data lives and which ports to use.
 */
const ENV_OVERRIDES: Array<{ env: string; path: string[]; type: 'string' | 'port' }> = [
  { env: 'FURROW_DATA_DIR', path: ['data', 'dir'], type: 'string' },
  { env: 'FURROW_COAP_PORT', path: ['coap', 'port'], type: 'port' },
  { env: 'FURROW_COAP_HOST', path: ['coap', 'host'], type: 'string' },
  { env: 'FURROW_METRICS_PORT', path: ['metrics', 'port'], type: 'port' },
  { env: 'FURROW_LOG_LEVEL', path: ['log', 'level'], type: 'string' },
  { env: 'FURROW_GATEWAY_ID', path: ['gateway', 'id'], type: 'string' },
];

export function envOverrides(env: NodeJS.ProcessEnv): { apply(obj: Record<string, unknown>): void; issues: string[] } {
  const issues: string[] = [];
  const sets: Array<{ path: string[]; value: unknown }> = [];
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') continue;
    if (o.type === 'port') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        issues.push(`${o.env}=${JSON.stringify(raw)}: expected a port number 0-65535`);
        continue;
      }
      sets.push({ path: o.path, value: n });
    } else sets.push({ path: o.path, value: raw });
  }
  return {
    issues,
    apply(obj) {
      for (const s of sets) {
        let cur = obj;
        for (const k of s.path.slice(0, -1)) {
          if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
          cur = cur[k] as Record<string, unknown>;
        }
        cur[s.path.at(-1)!] = s.value;
      }
    },
  };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new InputError('CONFIG_UNREADABLE', `cannot read config ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'pass an existing file with --config, or run without it to use the embedded default',
    });
  }
  const config = parseConfigText(text, abs, env);
  resolveRelativePaths(config, abs);
  return { config, file: abs };
}

/** Parses and validates YAML text; all problems are thrown together as one ConfigError. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = {}): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    issues.push({ file, line: pos.line, col: pos.col, path: '', message: e.message.split('\n')[0]! });
  }
  if (issues.length > 0) throw new ConfigError(file, issues);

  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // yaml refuses alias bombs ("billion laughs") with a ReferenceError; report it like any other problem.
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: '', message: `cannot expand the document: ${(err as Error).message}` }]);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ file, line: 1, col: 1, path: '', message: 'expected a mapping of settings at the top level' }]);
  }
  const overrides = envOverrides(env);
  for (const m of overrides.issues) issues.push({ file: 'environment', line: 0, col: 0, path: '', message: m });
  overrides.apply(raw as Record<string, unknown>);

  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) issues.push(...describeIssue(issue, doc, lineCounter, file));
  }
  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(file, issues);
  }
  return result.data!;
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, lc: LineCounter, file: string): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(configSchema, path);
    return issue.keys.map((key) => {
      const node = keyNode(doc, [...path, key]);
      const pos = position(node, doc, lc);
      const hint = closest(key, known);
      return {
        file,
        ...pos,
        path: [...path, key].join('.'),
        message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}${known.length ? `; expected one of: ${known.join(', ')}` : ''}`,
      };
    });
  }
  const node = deepestNode(doc, path);
  return [{ file, ...position(node, doc, lc), path: path.join('.'), message: issueMessage(issue) }];
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `missing required setting (expected ${issue.expected})`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${describeValue(issue.input)}`;
  if (issue.code === 'invalid_value') return `${issue.message}, got ${describeValue(issue.input)}`;
  return issue.message;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
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

function resolveRelativePaths(config: Config, file: string): void {
  const base = dirname(file);
  config.releases.trustedKeys = config.releases.trustedKeys.map((k) => (isAbsolute(k) ? k : resolve(base, k)));
}
