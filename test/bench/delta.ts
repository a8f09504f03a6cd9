/**
 * `npm run bench:delta`: furrow patch size and speed on the corpus pairs (test/corpus/manifest.json),
 * next to bsdiff (BSDIFF40), xdelta3 and zstd --patch-from run in the same process, and the HDiffPatch
 * lzma2 figures measured on the same pairs (in the manifest) for reference. Every furrow patch is verified by applying it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch, coderRamBytes, encodeFullImage, encodePatch, parsePatchHeader } from '../../src/delta/index.ts';
import { TRANSFORM_POINTERS } from '../../src/delta/format.ts';
import { TABLE_ENTRIES } from '../../src/delta/pointers.ts';
import { bsdiffMatches } from '../../src/delta/bsdiff.ts';
import { wrapEspDeltaOta } from '../../src/delta/detools/esp-delta-ota.ts';
import { ESP_DELTA_OTA_HEATSHRINK } from '../../src/delta/detools/heatshrink.ts';
import { encodeDetoolsPatch } from '../../src/delta/detools/patch.ts';
import { applyWithDetools } from '../helpers/detools.ts';
import { CORPUS_PAIRS, corpusPath } from '../helpers/corpus.ts';

const PAIRS = CORPUS_PAIRS.map((p) => {
  if (p.hdiffpatchPct === undefined) throw new Error(`${p.name}: no hdiffpatchPct in test/corpus/manifest.json`);
  return { name: p.name, old: corpusPath(p.from), new: corpusPath(p.to), hdiffpatchPct: p.hdiffpatchPct };
});

function tool(cmd: string, args: string[], pkg: string): number {
  const t0 = performance.now();
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${cmd} is missing: apt-get install -y ${pkg}`);
    throw err;
  }
  return performance.now() - t0;
}

/**
 * CPU seconds used so far by this process (all its threads, so bsdiff-node's libuv worker too) plus
 * its finished child processes (xz, sh, bzip2): utime, stime, cutime, cstime of /proc/self/stat.
 */
function cpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14-17 of proc(5), counted from 3 after the command name
  return [11, 12, 13, 14].reduce((n, i) => n + Number(f[i]), 0) / 100;
}

function pct(n: number, of: number): string {
  return `${((100 * n) / of).toFixed(2)} %`;
}

function pad(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'furrow-bench-'));
const ratios: number[] = [];
try {
  for (const pair of PAIRS) {
    const { old: oldFile, new: newFile } = pair;
    const oldImg = readFileSync(oldFile);
    const newImg = readFileSync(newFile);
    const rows: string[][] = [['method', 'bytes', '% of new', 'encode', 'encode CPU', 'apply', 'decoder RAM']];

    let t0 = performance.now();
    let cpu0 = cpuSeconds();
    const patch = await encodePatch(oldImg, newImg);
    const encMs = performance.now() - t0;
    const encCpu = cpuSeconds() - cpu0;
    t0 = performance.now();
    const out = applyPatch(oldImg, patch);
    const applyMs = performance.now() - t0;
    if (!out.equals(newImg)) throw new Error(`${pair.name}: furrow patch does not reproduce the new image`);
    const h = parsePatchHeader(patch);
    // coders, plus the pointer-prediction table when the patch uses it (FORMAT.md 6.3)
    const ram = h.coders.reduce((n, c) => n + coderRamBytes(c), 0) + (h.coders[1].transform === TRANSFORM_POINTERS ? 4 * TABLE_ENTRIES : 0);
    rows.push([`furrow patch v${h.formatVersion} (verified)`, String(patch.length), pct(patch.length, newImg.length), `${(encMs / 1000).toFixed(2)} s`, `${encCpu.toFixed(2)} s`, `${applyMs.toFixed(0)} ms`, `${(ram / 1024).toFixed(1)} KiB + ${(h.maxBodyLen / 1024).toFixed(0)} KiB flash staging`]);

    t0 = performance.now();
    cpu0 = cpuSeconds();
    const full = await encodeFullImage(newImg);
    const fullMs = performance.now() - t0;
    const fullCpu = cpuSeconds() - cpu0;
    if (!applyPatch(new Uint8Array(0), full).equals(newImg)) throw new Error(`${pair.name}: full-image patch does not reproduce the image`);
    rows.push(['furrow full image (base size 0)', String(full.length), pct(full.length, newImg.length), `${(fullMs / 1000).toFixed(2)} s`, `${fullCpu.toFixed(2)} s`, '', '']);

    // What an esp_delta_ota device (detools sequential, heatshrink 8/7) costs, checked by the detools C library.
    t0 = performance.now();
    cpu0 = cpuSeconds();
    const dt = wrapEspDeltaOta(oldImg, encodeDetoolsPatch(oldImg, newImg, await bsdiffMatches(oldImg, newImg), { kind: 'heatshrink', ...ESP_DELTA_OTA_HEATSHRINK }));
    const dtMs = performance.now() - t0;
    const dtCpu = cpuSeconds() - cpu0;
    t0 = performance.now();
    if (!applyWithDetools(oldImg, dt.subarray(64), dir).equals(newImg)) throw new Error(`${pair.name}: detools patch does not reproduce the new image`);
    const dtApplyMs = performance.now() - t0;
    rows.push(['detools sequential heatshrink 8/7 + esp_delta_ota header (verified, detools C)', String(dt.length), pct(dt.length, newImg.length), `${(dtMs / 1000).toFixed(2)} s`, `${dtCpu.toFixed(2)} s`, `${dtApplyMs.toFixed(0)} ms`, '0.5 KiB heatshrink window + input']);

    const bs = join(dir, 'p.bsdiff');
    const bsMs = tool('bsdiff', [oldFile, newFile, bs], 'bsdiff');
    rows.push(['bsdiff 4.3 (BSDIFF40, bzip2)', String(statSync(bs).size), pct(statSync(bs).size, newImg.length), `${(bsMs / 1000).toFixed(2)} s`, '', '', '> 1 MiB (bzip2)']);

    const xd = join(dir, 'p.xd3');
    const xdMs = tool('xdelta3', ['-e', '-9', '-S', 'djw', '-f', '-s', oldFile, newFile, xd], 'xdelta3');
    rows.push(['xdelta3 -e -9 -S djw', String(statSync(xd).size), pct(statSync(xd).size, newImg.length), `${(xdMs / 1000).toFixed(2)} s`, '', '', '']);

    const zs = join(dir, 'p.zst');
    const zsMs = tool('zstd', ['-q', '-f', '-19', '--long=27', `--patch-from=${oldFile}`, newFile, '-o', zs], 'zstd');
    rows.push(['zstd -19 --long=27 --patch-from', String(statSync(zs).size), pct(statSync(zs).size, newImg.length), `${(zsMs / 1000).toFixed(2)} s`, '', '', '128 MiB window']);

    const ref = pair.hdiffpatchPct;
    rows.push(['HDiffPatch -m-6 -SD lzma2 (corpus manifest)', '', `${ref.toFixed(2)} %`, '', '', '', 'MiBs']);
    const ratio = (100 * patch.length) / newImg.length / ref;
    ratios.push(ratio);

    process.stdout.write(`\n${pair.name}  (new image ${newImg.length} bytes, ${h.chunkCount} chunks)\n${pad(rows)}\n`);
    process.stdout.write(`furrow / HDiffPatch = ${ratio.toFixed(3)}   furrow / bsdiff = ${(patch.length / statSync(bs).size).toFixed(3)}\n`);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  process.stdout.write(`\nencode: wall time and CPU (this process's threads + its xz/sh/bzip2 children) of encodePatch, images already in memory; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs\n`);
  process.stdout.write(`median furrow / HDiffPatch-lzma2 = ${sorted[1]!.toFixed(3)} (target ≤ 0.95)\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
