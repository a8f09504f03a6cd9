import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFurrowInProcess as runFurrow } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('the CLI for stock Wi-Fi devices', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());
  const config = () => {
    const f = join(tmp.dir, 'furrow.yaml');
    writeFileSync(f, `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nhttp: { tls: { names: [gw.farm.lan] } }\n`);
    return f;
  };

  it('devices add --mac enrols the MAC and prints the URL paths; a bad or taken MAC is refused and adds no device', async () => {
    const f = config();
    const ok = await runFurrow(['-c', f, 'devices', 'add', 'pump-1', '--product', 'pump', '--mac', '24-0a-c4-a3-15-3c']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^mac 24:0A:C4:A3:15:3C/m);
    const token = /^ota url path \/ota\/([A-Za-z0-9_-]{22}) /m.exec(ok.stdout)?.[1];
    expect(token).toBeDefined();
    expect(ok.stdout).toContain(`delta url path /delta/${token}`);
    const show = await runFurrow(['-c', f, 'devices', 'show', 'pump-1']);
    expect(show.stdout).toMatch(/mac\s+24:0A:C4:A3:15:3C/);
    expect(show.stdout).toContain(`/ota/${token}`);

    const taken = await runFurrow(['-c', f, 'devices', 'add', 'pump-2', '--product', 'pump', '--mac', '24:0A:C4:A3:15:3C']);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/MAC 24:0A:C4:A3:15:3C is already enrolled as device pump-1/);
    const bad = await runFurrow(['-c', f, 'devices', 'add', 'pump-3', '--product', 'pump', '--mac', '24:0A:C4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mac "24:0A:C4": expected six hex pairs/);
    const list = await runFurrow(['-c', f, 'devices', 'list', '--json']);
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((d) => d.id)).toEqual(['pump-1']);
  });

  it('http cert prints the generated certificate, the same one on every call, for the configured names', async () => {
    const f = config();
    const a = await runFurrow(['-c', f, 'http', 'cert']);
    expect(a.code, a.stderr).toBe(0);
    const x = new X509Certificate(a.stdout);
    expect(x.checkHost('gw.farm.lan')).toBe('gw.farm.lan');
    const b = await runFurrow(['-c', f, 'http', 'cert', '--json']);
    const j = JSON.parse(b.stdout) as { pem: string; created: boolean; fingerprint: string };
    expect(j.created).toBe(false);
    expect(j.pem).toBe(a.stdout);
    expect(j.fingerprint).toBe(x.fingerprint256.replace(/:/g, '').toLowerCase());
  });
});
