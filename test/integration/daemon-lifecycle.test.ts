import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('the daemon as a real process', () => {
  let tmp: ReturnType<typeof tempDir>;
  let daemon: DaemonProcess | undefined;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    tmp.cleanup();
  });

  async function config(extra = ''): Promise<string> {
    const file = join(tmp.dir, 'furrow.yaml');
    const port = await freeUdpPort();
    writeFileSync(
      file,
      `gateway: { id: test-gw }\ndata: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\n` +
        `coap: { host: 127.0.0.1, port: ${port} }\nmetrics: { port: 0 }\n${extra}`,
    );
    return file;
  }

  it('starts, keeps the running config when SIGHUP brings a bad file, applies a good one, and exits 0 on SIGTERM', async () => {
    const file = await config();
    daemon = DaemonProcess.start(['--config', file, 'start']);
    await daemon.waitForMsg('furrow started');

    writeFileSync(file, 'coap:\n  port: "not a port"\n');
    daemon.signal('SIGHUP');
    const rejected = await daemon.waitForMsg(/reload rejected/);
    expect(String(rejected.error)).toMatch(/furrow\.yaml:2:9 coap\.port/);
    expect(daemon.proc.exitCode).toBeNull();

    await config('log: { level: debug }\n');
    daemon.signal('SIGHUP');
    await daemon.waitForMsg('config reloaded');

    const exit = await daemon.stop();
    expect(exit.code).toBe(0);
    expect(daemon.lines.some((l) => l.msg === 'furrow stopped')).toBe(true);

    // The store was closed cleanly: the WAL is checkpointed and the file passes an integrity check.
    const db = new Database(join(tmp.dir, 'data', 'furrow.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('exits 2 with the file:line:col of the problem when started with a bad config', async () => {
    const file = join(tmp.dir, 'bad.yaml');
    writeFileSync(file, 'gateway:\n  idd: x\n');
    daemon = DaemonProcess.start(['--config', file, 'start']);
    const exit = await daemon.exited;
    expect(exit.code).toBe(2);
    expect(daemon.stderr.join('')).toMatch(/bad\.yaml:2:3 gateway\.idd: unknown key "idd" \(did you mean "id"\?\)/);
  });

  it('also stops cleanly on SIGINT (Ctrl-C)', async () => {
    daemon = DaemonProcess.start(['--config', await config(), 'start']);
    await daemon.waitForMsg('furrow started');
    daemon.signal('SIGINT');
    expect((await daemon.exited).code).toBe(0);
  });
});
