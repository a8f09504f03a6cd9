import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { tempDir } from '../../helpers/tmp.ts';
import { FIRMWARE, ROOT } from './fw.ts';

/**
 * The three ways a user installs the device component: the ESP Component Registry (idf_component.yml in
 * the component), the Arduino Library Manager and PlatformIO (the library firmware/arduino/package.sh
 * generates from the component). The manifests are checked against the rules the tools apply; the
 * Arduino interface and its example sketch are compiled with the host g++ against the packaged sources.
 */
const COMPONENT = resolve(FIRMWARE, 'components/furrow_ota');
const SHIM = resolve(import.meta.dirname, 'arduino-shim');
const VERSION = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let out: { dir: string; cleanup(): void };
let lib: string;
beforeAll(() => {
  out = tempDir('furrow-pkg-');
  execFileSync('sh', [resolve(FIRMWARE, 'arduino/package.sh'), out.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  lib = join(out.dir, 'furrow_ota');
});
afterAll(() => out.cleanup());

/** CMakeLists.txt's idf_component_register SRCS and INCLUDE_DIRS. */
function cmakeList(key: string): string[] {
  const cmake = readFileSync(join(COMPONENT, 'CMakeLists.txt'), 'utf8');
  const m = new RegExp(`${key}((?:\\s+"[^"]+")+)`).exec(cmake);
  if (!m) throw new Error(`CMakeLists.txt has no ${key}`);
  return [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
}

describe('ESP Component Registry manifest (components/furrow_ota/idf_component.yml)', () => {
  const manifest = parse(readFileSync(join(COMPONENT, 'idf_component.yml'), 'utf8')) as Record<string, unknown>;

  it('uses only the keys the component manager knows, with a semver version, an SPDX license and http(s) links', () => {
    // idf_component_tools/manifest/constants.py: KNOWN_BUILD_METADATA_FIELDS + KNOWN_INFO_METADATA_FIELDS
    const known = ['name', 'dependencies', 'targets', 'version', 'files', 'maintainers', 'description', 'tags', 'examples', 'license', 'repository_info', 'repository', 'documentation', 'issues', 'discussion', 'url'];
    expect(Object.keys(manifest).filter((k) => !known.includes(k))).toEqual([]);
    expect(manifest.version).toBe(VERSION);
    expect(String(manifest.version)).toMatch(/^\d+\.\d+\.\d+$/);
    expect(manifest.license).toBe('MIT');
    expect(typeof manifest.description).toBe('string');
    expect(String(manifest.url)).toMatch(/^https:\/\//);
    expect(String(manifest.repository)).toMatch(/^https:\/\/.+\.git$/);
    for (const tag of manifest.tags as string[]) expect(tag).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
  });

  it('names known ESP-IDF targets, including the compile-checked esp32c3, and requires ESP-IDF 5.0 or later', () => {
    const targets = manifest.targets as string[];
    const known = ['esp32', 'esp32s2', 'esp32c3', 'esp32s3', 'esp32c2', 'esp32c5', 'esp32c6', 'esp32c61', 'esp32h2', 'esp32h21', 'esp32h4', 'esp32p4', 'linux'];
    expect(targets.filter((t) => !known.includes(t))).toEqual([]);
    expect(new Set(targets).size).toBe(targets.length);
    expect(targets).toContain('esp32c3');
    expect(manifest.dependencies).toEqual({ idf: '>=5.0' });
  });

  it('ships every source the component builds: CMakeLists SRCS are all the .c files there are, INCLUDE_DIRS exist', () => {
    const srcs = cmakeList('SRCS');
    const cFiles = [...readdirSync(COMPONENT).filter((f) => f.endsWith('.c')), ...readdirSync(join(COMPONENT, 'port/esp_idf')).filter((f) => f.endsWith('.c')).map((f) => `port/esp_idf/${f}`)];
    expect([...srcs].sort()).toEqual(cFiles.sort());
    for (const d of cmakeList('INCLUDE_DIRS')) expect(existsSync(join(COMPONENT, d)), d).toBe(true);
  });
});

describe('Arduino and PlatformIO library (firmware/arduino/package.sh)', () => {
  function properties(): Record<string, string> {
    const text = readFileSync(join(lib, 'library.properties'), 'utf8');
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  it('has a library.properties with every field the Library Manager requires, and the same version as the others', () => {
    const p = properties();
    for (const k of ['name', 'version', 'author', 'maintainer', 'sentence', 'paragraph', 'category', 'url', 'architectures']) expect(p[k], k).toBeTruthy();
    expect(p.name).toBe('furrow_ota');
    expect(p.version).toBe(VERSION);
    expect(['Display', 'Communication', 'Signal Input/Output', 'Sensors', 'Device Control', 'Timing', 'Data Storage', 'Data Processing', 'Other']).toContain(p.category);
    expect(p.architectures).toBe('esp32');
    for (const h of p.includes!.split(',')) expect(existsSync(join(lib, 'src', h.trim())), h).toBe(true);
  });

  it('has a library.json PlatformIO reads: same name and version, espressif32, headers and examples that exist', () => {
    const j = JSON.parse(readFileSync(join(lib, 'library.json'), 'utf8')) as Record<string, unknown> & { build: { srcDir: string; includeDir: string } };
    expect(j.name).toBe('furrow_ota');
    expect(j.version).toBe(VERSION);
    expect(j.platforms).toEqual(['espressif32']);
    expect(j.frameworks).toEqual(['arduino', 'espidf']);
    expect(j.license).toBe('MIT');
    for (const h of j.headers as string[]) expect(existsSync(join(lib, j.build.includeDir, h)), h).toBe(true);
    expect(existsSync(join(lib, j.build.srcDir))).toBe(true);
    expect(readdirSync(join(lib, 'examples/FurrowOTA'))).toContain('FurrowOTA.ino');
  });

  it('puts every core and ESP-IDF port source under src/ as plain files, every quoted include resolving there', () => {
    const src = readdirSync(join(lib, 'src'));
    const want = [...readdirSync(COMPONENT).filter((f) => f.endsWith('.c')), ...readdirSync(join(COMPONENT, 'include')), ...readdirSync(join(COMPONENT, 'port/esp_idf'))];
    expect(src.filter((f) => want.includes(f)).sort()).toEqual(want.sort());
    for (const f of src) {
      expect(lstatSync(join(lib, 'src', f)).isSymbolicLink(), f).toBe(false);
      for (const m of readFileSync(join(lib, 'src', f), 'utf8').matchAll(/#include "([^"]+)"/g)) {
        // furrow's own headers are all in src/; the rest are ESP-IDF's (the port) and come from the core
        if (m[1]!.startsWith('furrow') || m[1] === 'FurrowUpdate.h') expect(src, `${f} includes ${m[1]}`).toContain(m[1]);
      }
    }
    expect(readFileSync(join(lib, 'examples/FurrowOTA/partitions.csv'), 'utf8')).toMatch(/^furrow_stg, +data/m);
  });

  it('zips the library with furrow_ota/ at its root, as "Add .ZIP Library" expects', () => {
    const list = execFileSync('unzip', ['-Z1', join(out.dir, `furrow_ota-${VERSION}.zip`)], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(list).toContain('furrow_ota/library.properties');
    expect(list).toContain('furrow_ota/src/FurrowUpdate.cpp');
    expect(list).toContain('furrow_ota/examples/FurrowOTA/FurrowOTA.ino');
    expect(list.every((f) => f.startsWith('furrow_ota/'))).toBe(true);
  });

  function gxx(file: string, extra: string[] = []) {
    // what arduino-cli does to a sketch: C++ with Arduino.h included first
    return spawnSync('g++', ['-fsyntax-only', '-std=gnu++17', '-Wall', '-Wextra', '-Werror', '-DARDUINO=10819', '-DESP32', `-I${SHIM}`, `-I${join(lib, 'src')}`, ...extra, file], {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' }, // ASCII quotes in the diagnostics
    });
  }

  it('compiles the Arduino interface (FurrowUpdate.cpp) against the packaged core with g++', () => {
    const r = gxx(join(lib, 'src/FurrowUpdate.cpp'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('compiles the FurrowOTA example sketch as arduino-cli would (C++, Arduino.h first)', () => {
    const r = gxx(join(lib, 'examples/FurrowOTA/FurrowOTA.ino'), ['-x', 'c++', '-include', 'Arduino.h']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails the sketch check on a call the interface does not have', () => {
    const dir = tempDir('furrow-ino-');
    try {
      const ino = join(dir.dir, 'Bad.ino');
      writeFileSync(ino, readFileSync(join(lib, 'examples/FurrowOTA/FurrowOTA.ino'), 'utf8').replace('furrowUpdate.begin(gateway, config, selfTest)', 'furrowUpdate.begin(gateway)'));
      const r = gxx(ino, ['-x', 'c++', '-include', 'Arduino.h']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/no matching function for call to 'FurrowUpdateClass::begin\(const char\*&\)'/);
    } finally {
      dir.cleanup();
    }
  });
});
