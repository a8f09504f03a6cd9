import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const aptLine = (file: string) => {
  const m = /apt-get install -y (.+)$/m.exec(readFileSync(resolve(root, file), 'utf8'));
  if (!m) throw new Error(`${file} has no apt-get install -y line`);
  return m[1]!.trim();
};

describe('system packages', () => {
  it("the README's apt line is exactly what CI installs, with what npm ci needs to build bsdiff-node", () => {
    expect(aptLine('README.md')).toBe(aptLine('.ci/run'));
    expect(aptLine('README.md').split(/\s+/)).toEqual(expect.arrayContaining(['g++', 'python3', 'make', 'gcc', 'libssl-dev']));
  });
});
