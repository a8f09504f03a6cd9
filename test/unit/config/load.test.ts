import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configJsonSchema, EMBEDDED_CONFIG, loadConfig, parseConfigText } from '../../../src/config/index.ts';
import { tempDir } from '../../helpers/tmp.ts';

function issues(yaml: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(yaml, 'f.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('config loading', () => {
  it("loads the embedded default with data under the checkout's ./data and CoAP on 5683, no MQTT", () => {
    const { config } = loadConfig(EMBEDDED_CONFIG, {});
    // What `npm start` in the checkout has always used, wherever it is started from.
    expect(config.data.dir).toBe(resolve(EMBEDDED_CONFIG, '../../data'));
    expect(config.coap.port).toBe(5683);
    expect(config.mqtt).toBeNull();
  });

  it('reports a YAML syntax error at its line and column', () => {
    const [i] = issues('gateway:\n  id: [unclosed\n');
    expect(i!.line).toBeGreaterThanOrEqual(2);
    expect(i!.file).toBe('f.yaml');
  });

  it('reports a wrong type at the line:col of the value, with what was expected', () => {
    const [i] = issues('coap:\n  port: "fifty"\n');
    expect(i).toMatchObject({ line: 2, col: 9, path: 'coap.port' });
    expect(i!.message).toMatch(/expected number, got string "fifty"/);
  });

  it('reports an out-of-range number', () => {
    const [i] = issues('coap:\n  port: 70000\n');
    expect(i).toMatchObject({ line: 2, path: 'coap.port' });
    expect(i!.message).toMatch(/65535/);
  });

  it('reports an unknown key at the key with a "did you mean" hint', () => {
    const [i] = issues('gateway:\n  id: a\ncoap:\n  prot: 5683\n');
    expect(i).toMatchObject({ line: 4, col: 3, path: 'coap.prot' });
    expect(i!.message).toMatch(/unknown key "prot" \(did you mean "port"\?\)/);
  });

  it('reports a misspelt top-level section with a hint', () => {
    const [i] = issues('relases:\n  allowUnsigned: true\n');
    expect(i).toMatchObject({ line: 1, col: 1 });
    expect(i!.message).toMatch(/did you mean "releases"/);
  });

  it('reports a value outside an enumeration', () => {
    const [i] = issues('log:\n  level: loud\n');
    expect(i).toMatchObject({ line: 2, path: 'log.level' });
    expect(i!.message).toMatch(/loud/);
  });

  it('reports a patch format the gateway cannot build at its line', () => {
    const [i] = issues('delta:\n  formatVersion: 3\n');
    expect(i).toMatchObject({ line: 2, path: 'delta.formatVersion' });
    expect(parseConfigText('delta:\n  formatVersion: 1\n', 'f.yaml', {}).delta.formatVersion).toBe(1);
    expect(parseConfigText('', 'f.yaml', {}).delta.formatVersion).toBe(2);
  });

  it('reports a chunk size outside the patch format limits (4096..1048576) at its line', () => {
    for (const bad of ['1000', '2097152', '65536.5']) {
      const [i] = issues(`delta:\n  chunkBytes: ${bad}\n`);
      expect(i).toMatchObject({ line: 2, path: 'delta.chunkBytes' });
    }
    expect(parseConfigText('delta:\n  chunkBytes: 65536\n', 'f.yaml', {}).delta.chunkBytes).toBe(65536);
    expect(parseConfigText('', 'f.yaml', {}).delta.chunkBytes).toBe(1048576);
  });

  it('reports a mapping where a list was expected', () => {
    const [i] = issues('releases:\n  trustedKeys: { a: 1 }\n');
    expect(i).toMatchObject({ line: 2, path: 'releases.trustedKeys' });
    expect(i!.message).toMatch(/expected array, got a mapping/);
  });

  it('reports duplicate keys', () => {
    const all = issues('coap:\n  port: 1\n  port: 2\n');
    expect(all[0]!.line).toBe(3);
  });

  it('reports every problem at once, in file order', () => {
    const all = issues('coap:\n  port: -1\nlog:\n  level: loud\nfoo: 1\n');
    expect(all.map((i) => i.line)).toEqual([2, 4, 5]);
    const err = (() => {
      try {
        parseConfigText('coap:\n  port: -1\nlog:\n  level: loud\n', 'x.yaml');
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err!.message).toMatch(/x\.yaml:2:9 coap\.port/);
    expect(err!.exitCode).toBe(2);
  });

  it('applies FURROW_* environment overrides for data dir and ports', () => {
    const c = parseConfigText('coap: { port: 5683 }', 'f.yaml', { FURROW_DATA_DIR: '/var/lib/furrow', FURROW_COAP_PORT: '15683', FURROW_METRICS_PORT: '0' });
    expect(c.data.dir).toBe('/var/lib/furrow');
    expect(c.coap.port).toBe(15683);
    expect(c.metrics.port).toBe(0);
  });

  it('rejects a malformed environment override naming the variable', () => {
    const [i] = issues('{}', { FURROW_COAP_PORT: 'abc' });
    expect(i!.message).toMatch(/FURROW_COAP_PORT="abc"/);
  });

  it('resolves trusted key paths relative to the config file', () => {
    const t = tempDir();
    try {
      const f = join(t.dir, 'furrow.yaml');
      writeFileSync(f, 'releases:\n  trustedKeys: [keys/vendor.pub.pem]\n');
      expect(loadConfig(f, {}).config.releases.trustedKeys).toEqual([join(t.dir, 'keys/vendor.pub.pem')]);
    } finally {
      t.cleanup();
    }
  });

  it('keeps config/furrow.schema.json in step with the zod schema (run `npm run schema` when this fails)', () => {
    const onDisk = readFileSync(resolve(import.meta.dirname, '../../../config/furrow.schema.json'), 'utf8');
    expect(onDisk).toBe(configJsonSchema());
  });

  it('accepts every example config shipped in config/examples', async () => {
    const { readdirSync } = await import('node:fs');
    const dir = resolve(import.meta.dirname, '../../../config/examples');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml') && !n.startsWith('rollout'))) {
      expect(() => loadConfig(join(dir, f), {}), f).not.toThrow();
    }
  });
});
