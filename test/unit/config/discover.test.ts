import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverConfig, EMBEDDED_CONFIG, loadConfig } from '../../../src/config/index.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('config discovery', () => {
  const tmp = tempDir();
  afterEach(() => tmp.cleanup());
  const file = (rel: string, text = 'gateway: { id: t }\n') => {
    const p = join(tmp.dir, rel);
    mkdirSync(resolve(p, '..'), { recursive: true });
    writeFileSync(p, text);
    return p;
  };

  it('takes --config first, then FURROW_CONFIG, then ./config/furrow.yaml, then the system file, else the embedded default', () => {
    const flag = file('flag.yaml');
    const env = file('env.yaml');
    const local = file('config/furrow.yaml');
    const system = file('etc/furrow.yaml');
    const base = { cwd: tmp.dir, systemFile: system };
    expect(discoverConfig({ ...base, flag: 'flag.yaml', env: { FURROW_CONFIG: env } })).toEqual({ file: flag, source: '--config' });
    expect(discoverConfig({ ...base, env: { FURROW_CONFIG: env } })).toEqual({ file: env, source: 'FURROW_CONFIG' });
    expect(discoverConfig({ ...base, env: {} }).file).toBe(local);
    expect(discoverConfig({ cwd: join(tmp.dir, 'etc'), systemFile: system, env: {} })).toEqual({ file: system, source: system });
    const none = discoverConfig({ cwd: join(tmp.dir, 'etc'), systemFile: join(tmp.dir, 'absent.yaml'), env: { FURROW_CONFIG: '' } });
    expect(none.file).toBe(EMBEDDED_CONFIG);
    expect(none.source).toMatch(/^the embedded default/);
  });

  it('refuses a FURROW_CONFIG naming a missing file instead of falling through to another config', () => {
    file('config/furrow.yaml');
    expect(() => discoverConfig({ cwd: tmp.dir, env: { FURROW_CONFIG: 'gone.yaml' } })).toThrow(`FURROW_CONFIG=gone.yaml: no such file ${join(tmp.dir, 'gone.yaml')}`);
  });

  it("resolves a relative data.dir against the config file's directory, FURROW_DATA_DIR against the working directory", () => {
    const f = file('site/furrow.yaml', 'data: { dir: ./state }\n');
    expect(loadConfig(f, {}).config.data.dir).toBe(join(tmp.dir, 'site/state'));
    expect(loadConfig(file('abs.yaml', 'data: { dir: /var/lib/furrow }\n'), {}).config.data.dir).toBe('/var/lib/furrow');
    expect(loadConfig(f, { FURROW_DATA_DIR: 'here' }).config.data.dir).toBe(resolve(process.cwd(), 'here'));
  });
});
