import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/tmp.ts';
import { FIRMWARE, ROOT } from './fw.ts';

/**
 * The ESP-IDF port and the example compiled for ESP32-C3 against the real ESP-IDF v5.5 headers
 * (firmware/idf-check). The header fixture is built once by fixture.sh from ESP-IDF's sources and is not
 * in the repository; without it the compile tests do not run, unless FURROW_REQUIRE_ESP_IDF=1, where
 * its absence fails them naming what is missing.
 */
const CHECK = resolve(FIRMWARE, 'idf-check/check.sh');
const FIXTURE_SH = resolve(FIRMWARE, 'idf-check/fixture.sh');
// as check.sh looks for it: FURROW_ESP_IDF, ../shared beside the repository (as the corpus), the cache
const SHARED = resolve(ROOT, '../shared/esp-idf-v5.5.5-headers');
const FIXTURE =
  process.env.FURROW_ESP_IDF ?? (existsSync(join(SHARED, 'MANIFEST.txt')) ? SHARED : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'furrow/esp-idf-v5.5.5-headers'));
const PRESENT = existsSync(join(FIXTURE, 'MANIFEST.txt'));
const REQUIRED = process.env.FURROW_REQUIRE_ESP_IDF === '1';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function scratch(): string {
  const t = tempDir('furrow-idf-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function check(args: string[], env: Record<string, string> = {}) {
  const out = scratch();
  const r = spawnSync('sh', [CHECK, ...args], { env: { ...process.env, FURROW_ESP_IDF: FIXTURE, FURROW_IDF_CHECK_OUT: out, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

describe('ESP-IDF compile check: its inputs', () => {
  it('names the fixture directory, FURROW_ESP_IDF and the command that builds it when the fixture is absent', () => {
    const missing = join(scratch(), 'no-fixture');
    const r = check([], { FURROW_ESP_IDF: missing });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`no ESP-IDF header fixture at ${missing}`);
    expect(r.stderr).toContain('FURROW_ESP_IDF');
    expect(r.stderr).toContain('sh firmware/idf-check/fixture.sh');
  });

  it('fixture.sh refuses to build without sources, naming the variables to set, and leaves nothing behind', () => {
    const out = join(scratch(), 'fx');
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FURROW_ESP_IDF: out };
    const noLibc = spawnSync('sh', [FIXTURE_SH], { env, encoding: 'utf8' });
    expect(noLibc.status).toBe(1);
    expect(noLibc.stderr).toMatch(/set FURROW_NEWLIB_INCLUDE .* or FURROW_NEWLIB_GIT/);
    const noIdf = spawnSync('sh', [FIXTURE_SH], { env: { ...env, FURROW_NEWLIB_INCLUDE: scratch() }, encoding: 'utf8' });
    expect(noIdf.status).toBe(1);
    expect(noIdf.stderr).toMatch(/set IDF_PATH .* or FURROW_IDF_GIT, FURROW_MBEDTLS_GIT and FURROW_LWIP_GIT/);
    const notIdf = spawnSync('sh', [FIXTURE_SH], { env: { ...env, IDF_PATH: scratch(), FURROW_NEWLIB_GIT: '/nonexistent' }, encoding: 'utf8' });
    expect(notIdf.status).toBe(1);
    expect(notIdf.stderr).toMatch(/IDF_PATH=.* is not an ESP-IDF checkout/);
    expect(existsSync(out)).toBe(false);
  });
});

describe.runIf(PRESENT || REQUIRED)(`ESP-IDF compile check against the v5.5 headers in ${FIXTURE} (ESP32-C3, riscv64-unknown-elf-gcc)`, () => {
  const need = () => {
    if (!PRESENT) {
      throw new Error(
        `FURROW_REQUIRE_ESP_IDF=1 but the ESP-IDF header fixture is missing: ${FIXTURE}/MANIFEST.txt (set FURROW_ESP_IDF, or build it: sh firmware/idf-check/fixture.sh; firmware/README.md "ESP-IDF compile check")`,
      );
    }
  };

  it('compiles the ESP-IDF port and examples/farm-sensor with every ESP-IDF call type-checked', () => {
    need();
    const r = check([]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok {3}furrow_port_esp /m);
    expect(r.stdout).toMatch(/^ok {3}farm_sensor_main /m);
    expect(r.status).toBe(0);
    // the calls were checked against the real declarations, not against implicit ones
    const used = readFileSync(join(r.out, 'headers-used.txt'), 'utf8');
    for (const h of ['app_update/include/esp_ota_ops.h', 'esp_partition/include/esp_partition.h', 'nvs_flash/include/nvs.h', 'mbedtls/mbedtls/include/mbedtls/sha256.h', 'mbedtls/port/include/sha256_alt.h']) {
      expect(used).toContain(`idf/components/${h}`);
    }
  });

  it('writes sdkconfig.h from sdkconfig.base with the example\'s sdkconfig.defaults winning', () => {
    need();
    const r = check([]);
    const h = readFileSync(join(r.out, 'sdkconfig.h'), 'utf8');
    expect(h).toContain('#define CONFIG_IDF_TARGET_ESP32C3 1');
    expect(h).toContain('#define CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE 1'); // from sdkconfig.defaults
    expect(h).toContain('#define CONFIG_ESP_MAIN_TASK_STACK_SIZE 3584'); // base; the example sets MAIN_TASK_STACK_SIZE
    expect(h).not.toMatch(/ n$/m); // "=n" is an absent option, as kconfgen writes it
  });
  it('fixture.sh from an ESP-IDF checkout (IDF_PATH) copies exactly the headers the fixture holds', () => {
    need();
    // the fixture's idf/ has the checkout's layout for every listed directory, so it stands in for one
    const out = join(scratch(), 'fx');
    const r = spawnSync('sh', [FIXTURE_SH], { env: { ...process.env, IDF_PATH: join(FIXTURE, 'idf'), FURROW_NEWLIB_INCLUDE: join(FIXTURE, 'newlib'), FURROW_ESP_IDF: out }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = (m: string) => m.slice(m.indexOf('\n\n'));
    expect(files(readFileSync(join(out, 'MANIFEST.txt'), 'utf8'))).toBe(files(readFileSync(join(FIXTURE, 'MANIFEST.txt'), 'utf8')));
  });

  it('fails, naming the function and its declaration, on a call that does not match the ESP-IDF signature', () => {
    need();
    const dir = scratch();
    const port = resolve(FIRMWARE, 'components/furrow_ota/port/esp_idf/furrow_port_esp.c');
    writeFileSync(join(dir, 'port.c'), `${readFileSync(port, 'utf8')}\n#include "esp_ota_ops.h"\nint furrow_probe(void);\nint furrow_probe(void) { return esp_ota_begin(0); }\n`);
    const r = check([join(dir, 'port.c')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL furrow_port_esp /m);
    expect(r.stderr).toContain("too few arguments to function 'esp_ota_begin'");
    expect(r.stderr).toMatch(/esp_ota_ops\.h:\d+:\d+: note: declared here/);
  });
});
