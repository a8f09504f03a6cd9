import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { configSchema, type Config } from './schema.ts';
import { parseYamlMapping, schemaIssues } from './yaml-document.ts';

/** The config shipped with the package: runs out of the box (data under ./data, CoAP on 5683). */
export const EMBEDDED_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/furrow.yaml');

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file it came from. */
  file: string;
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
      hint: 'pass an existing file with --config (or FURROW_CONFIG), or run without both to use ./config/furrow.yaml, /etc/furrow/furrow.yaml or the embedded default',
    });
  }
  const config = parseConfigText(text, abs, env);
  resolveRelativePaths(config, abs, env);
  return { config, file: abs };
}

/** Parses and validates YAML text; all problems are thrown together as one ConfigError. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = {}): Config {
  const yaml = parseYamlMapping(text, file, 'of settings');
  const issues: ConfigIssue[] = [];
  const overrides = envOverrides(env);
  for (const m of overrides.issues) issues.push({ file: 'environment', line: 0, col: 0, path: '', message: m });
  overrides.apply(yaml.raw);

  const result = configSchema.safeParse(yaml.raw, { reportInput: true });
  if (!result.success) issues.push(...schemaIssues(configSchema, result.error, yaml, file));
  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ConfigError(file, issues);
  }
  return result.data!;
}

/**
 * Paths in a file mean the same wherever furrow is started from: relative to the file's directory (so the
 * embedded default says `../data` for the checkout's ./data). FURROW_DATA_DIR is a per-shell setting and
 * resolves against the working directory, like any path typed in that shell.
 */
function resolveRelativePaths(config: Config, file: string, env: NodeJS.ProcessEnv): void {
  const base = dirname(file);
  const fromEnv = env.FURROW_DATA_DIR !== undefined && env.FURROW_DATA_DIR !== '';
  config.data.dir = resolve(fromEnv ? process.cwd() : base, config.data.dir);
  config.releases.trustedKeys = config.releases.trustedKeys.map((k) => (isAbsolute(k) ? k : resolve(base, k)));
}
