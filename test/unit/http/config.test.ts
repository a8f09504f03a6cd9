import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/index.ts';

function issues(yaml: string) {
  try {
    parseConfigText(yaml, 'f.yaml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('the http section of furrow.yaml', () => {
  it('is off unless present; present, HTTPS on 8443 with the generated certificate and plain HTTP off', () => {
    expect(parseConfigText('', 'f.yaml', {}).http).toBeNull();
    const h = parseConfigText('http: {}\n', 'f.yaml', {}).http!;
    expect(h).toMatchObject({ port: 8443, plainPort: null, tls: { cert: null, key: null, names: [] }, maxConnectionsPerAddress: 8, headersTimeoutMs: 10_000 });
  });

  it('refuses a certificate without its key at the tls line', () => {
    const [i] = issues('http:\n  tls:\n    cert: gw.pem\n');
    expect(i).toMatchObject({ path: 'http.tls' });
    expect(i!.message).toMatch(/both http.tls.cert and http.tls.key/);
  });

  it('refuses a bad name, port, limit or a misspelt key at its line', () => {
    expect(issues('http:\n  tls:\n    names: ["bad name!"]\n')[0]).toMatchObject({ line: 3, path: 'http.tls.names.0' });
    expect(issues('http:\n  port: 70000\n')[0]).toMatchObject({ line: 2, path: 'http.port' });
    expect(issues('http:\n  headersTimeoutMs: 10\n')[0]).toMatchObject({ line: 2, path: 'http.headersTimeoutMs' });
    expect(issues('http:\n  maxConnectionsPerAdress: 3\n')[0]!.message).toMatch(/maxConnectionsPerAddress/);
  });
});
