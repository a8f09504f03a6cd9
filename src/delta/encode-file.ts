/** `npx tsx src/delta/encode-file.ts <old.bin> <new.bin> <out.patch>`: writes a furrow patch (old may be /dev/null for a full image). */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../errors.ts';
import { encodePatch } from './encode.ts';
import { parsePatchHeader } from './format.ts';

const [oldFile, newFile, outFile] = process.argv.slice(2);
if (!oldFile || !newFile || !outFile) {
  process.stderr.write('usage: npx tsx src/delta/encode-file.ts <old.bin|/dev/null> <new.bin> <out.patch>\n');
  process.exit(2);
}
try {
  const oldImg = readFileSync(oldFile);
  const newImg = readFileSync(newFile);
  const t0 = Date.now();
  const patch = await encodePatch(oldImg, newImg);
  writeFileSync(outFile, patch);
  const h = parsePatchHeader(patch);
  process.stdout.write(
    `${outFile}: ${patch.length} bytes (${((100 * patch.length) / newImg.length).toFixed(2)} % of ${newImg.length}), ` +
      `${h.chunkCount} chunks, table digest ${h.tableDigest}, ${Date.now() - t0} ms\n`,
  );
} catch (err) {
  process.stderr.write(`encode-file: ${errorMessage(err)}\n`);
  process.exit(1);
}
