// bsdiff-node ships no types; only the async diff is used (it runs on a libuv worker thread).
declare module 'bsdiff-node' {
  /** Writes a BSDIFF40 patch from `oldFile` to `newFile` into `patchFile`; resolves when done. */
  export function diff(oldFile: string, newFile: string, patchFile: string, progress?: (percent: number, err?: unknown) => void): Promise<void>;
  const bsdiff: { diff: typeof diff };
  export default bsdiff;
}
