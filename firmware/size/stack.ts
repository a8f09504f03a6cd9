/**
 * Peak stack of the furrow core from GCC's -fcallgraph-info=su files: the deepest call chain by
 * summed static frame sizes, starting at each public entry point. Port callbacks (indirect calls)
 * count as 0: their stack belongs to the port. Recursion (the CBOR skip) is bounded at depth 8 in
 * code and reported as such.
 * usage: npx tsx firmware/size/stack.ts ENTRY[,ENTRY...] FILE.ci...
 */
import { readFileSync } from 'node:fs';

const [entries, ...files] = process.argv.slice(2);
if (!entries || files.length === 0) {
  process.stderr.write('usage: stack.ts ENTRY[,ENTRY...] FILE.ci...\n');
  process.exit(2);
}
const frame = new Map<string, number>();
const calls = new Map<string, Set<string>>();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  for (const m of text.matchAll(/node: \{ title: "([^"]+)" label: "[^"]*?\\n[^"]*?\\n(\d+) bytes/g)) frame.set(m[1]!, Number(m[2]));
  for (const m of text.matchAll(/edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"/g)) {
    if (!calls.has(m[1]!)) calls.set(m[1]!, new Set());
    calls.get(m[1]!)!.add(m[2]!);
  }
}
// static functions are titled "file:name"; calls across files use the bare name
const resolve = (name: string) => (frame.has(name) ? name : [...frame.keys()].find((k) => k.endsWith(`:${name}`)) ?? name);
const memo = new Map<string, { depth: number; path: string[] }>();
function peak(fn: string, onPath: Set<string>): { depth: number; path: string[] } {
  const key = resolve(fn);
  if (memo.has(key)) return memo.get(key)!;
  if (onPath.has(key)) return { depth: 0, path: [`${key} (recursion)`] };
  onPath.add(key);
  let best = { depth: 0, path: [] as string[] };
  for (const c of calls.get(key) ?? []) {
    const r = peak(c, onPath);
    if (r.depth > best.depth) best = r;
  }
  onPath.delete(key);
  const own = frame.get(key) ?? 0;
  const res = { depth: own + best.depth, path: [`${key.replace(/^.*:/, '')}(${own})`, ...best.path] };
  memo.set(key, res);
  return res;
}
for (const e of entries.split(',')) {
  const r = peak(e, new Set());
  process.stdout.write(`peak stack ${e}: ${r.depth} bytes  ${r.path.join(' > ')}\n`);
}
