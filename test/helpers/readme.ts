import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const README = resolve(import.meta.dirname, '../../README.md');

/**
 * The shell code of one section of a Markdown file: every ```sh fenced block between the `## heading`
 * line and the next `## ` heading, joined. Throws when the heading or its blocks are missing, so a
 * renamed section fails the test that runs it instead of running nothing.
 */
export function shellBlocks(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start === -1) throw new Error(`no "## ${heading}" section`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const section = lines.slice(start + 1, end === -1 ? undefined : end);
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const l of section) {
    if (current === undefined && /^```(sh|bash|shell)\s*$/.test(l)) current = [];
    else if (current !== undefined && /^```\s*$/.test(l)) {
      blocks.push(current.join('\n'));
      current = undefined;
    } else current?.push(l);
  }
  if (current !== undefined) throw new Error(`"## ${heading}": a fenced block is not closed`);
  if (blocks.length === 0) throw new Error(`"## ${heading}" has no \`\`\`sh block`);
  return blocks.join('\n');
}

export function readmeSection(heading: string, file = README): string {
  return shellBlocks(readFileSync(file, 'utf8'), heading);
}
