/** `npx tsx src/delta/apply-file.ts <old.bin> <patch> <out.bin>`: applies a furrow patch (old may be /dev/null for a full image). */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorMessage, FurrowError } from '../errors.ts';
import { applyPatch } from './apply.ts';

const [oldFile, patchFile, outFile] = process.argv.slice(2);
if (!oldFile || !patchFile || !outFile) {
  process.stderr.write('usage: npx tsx src/delta/apply-file.ts <old.bin|/dev/null> <patch> <out.bin>\n');
  process.exit(2);
}
try {
  const out = applyPatch(readFileSync(oldFile), readFileSync(patchFile));
  writeFileSync(outFile, out);
  process.stdout.write(`${outFile}: ${out.length} bytes, result digest verified\n`);
} catch (err) {
  process.stderr.write(`apply-file: ${errorMessage(err)}\n`);
  process.exit(err instanceof FurrowError ? err.exitCode : 1);
}
