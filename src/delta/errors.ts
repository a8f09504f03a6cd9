import { InputError } from '../errors.ts';

/**
 * A patch that does not follow FORMAT.md, or does not fit the base it is applied to. `name` is the
 * error name from FORMAT.md section 9; `chunk` is the chunk index when the problem is inside one.
 */
export class PatchError extends InputError {
  readonly formatName: string;
  readonly chunk: number | undefined;
  /** The message without the "furrow patch:" prefix, for callers that add their own context. */
  readonly detail: string;

  constructor(name: string, message: string, opts: { chunk?: number; hint?: string; cause?: unknown } = {}) {
    const where = opts.chunk === undefined ? '' : `chunk ${opts.chunk}: `;
    super(`PATCH_${name}`, `furrow patch: ${where}${message}`, {
      hint: opts.hint ?? 'the patch is damaged or was built for another image: rebuild it with `furrow delta build`',
      cause: opts.cause,
    });
    this.formatName = name;
    this.chunk = opts.chunk;
    this.detail = `${where}${message}`;
  }
}
