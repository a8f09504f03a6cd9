import { InputError } from '../errors.ts';

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** Dotted path inside the document, e.g. `coap.port`; empty for the document itself. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = `${i.file}:${i.line}:${i.col}`;
  return i.path ? `${where} ${i.path}: ${i.message}` : `${where} ${i.message}`;
}

/** Every problem in a config file, reported at once. */
export class ConfigError extends InputError {
  readonly issues: ConfigIssue[];

  constructor(file: string, issues: ConfigIssue[], hint = 'fix the lines above; `furrow config check <file>` re-checks without starting anything') {
    super('CONFIG_INVALID', `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${issues.map((i) => '  ' + formatIssue(i)).join('\n')}`, { hint });
    this.issues = issues;
  }
}
