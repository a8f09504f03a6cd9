/**
 * Typed errors. Every error that reaches an operator says what is wrong, where, and what to do.
 * `exitCode` follows the CLI contract: 1 runtime failure, 2 bad usage or bad input.
 */
export class FurrowError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: 1 | 2;

  constructor(code: string, message: string, opts: { hint?: string; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }

  /** One or two lines for a terminal: the message, then the hint if any. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

/** Something the user handed us (file, argument, packet) is wrong. Exit code 2. */
export class InputError extends FurrowError {
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(code, message, { ...opts, exitCode: 2 });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof FurrowError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
