/**
 * `furrow backup` of a running daemon mid-rollout, `furrow restore` into a fresh data dir, and a daemon
 * started on the restored dir resuming the rollout: the device continues its download at its offset and the
 * gateway's signing key, delivery token and transfer row came back intact.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, statSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { TarWriter } from '../../src/lifecycle/tar.ts';
import { runFurrowInProcess as cli } from '../helpers/cli.ts';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestDevice } from './coap-device.ts';
import { seedDataDir } from './lifecycle-seed.ts';
import { waitFor } from './mqtt-broker.ts';

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('furrow-backup-');
});
const daemons: DaemonProcess[] = [];
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  for (const d of daemons.splice(0)) await d.stop();
  tmp.cleanup();
});

async function gatewayConfig(name: string): Promise<{ file: string; port: number; data: string }> {
  const port = await freeUdpPort();
  const file = join(tmp.dir, `${name}.yaml`);
  writeFileSync(file, `gateway: { id: gw-${name} }\ndata: { dir: ./${name}-data }\ncoap: { host: 127.0.0.1, port: ${port}, transfers: { flushIntervalMs: 200 } }\nmetrics: { port: 0 }\n`);
  return { file, port, data: join(tmp.dir, `${name}-data`) };
}

function transferRow(dataDir: string, device = 'probe-1'): { offset: number; state: string; bytes_served: number } | undefined {
  const db = new Database(join(dataDir, 'furrow.db'), { readonly: true });
  try {
    return db.prepare('SELECT offset, state, bytes_served FROM transfers WHERE device_id = ?').get(device) as { offset: number; state: string; bytes_served: number } | undefined;
  } finally {
    db.close();
  }
}

describe('furrow backup and restore', () => {
  it('restores a backup taken mid-rollout while the daemon runs, and a daemon on the restored dir resumes the download', async () => {
    const a = await gatewayConfig('a');
    const s = seedDataDir(a.data, { patchSize: 32 * 1024, devices: ['probe-1', 'probe-2'] });
    const rollout = join(tmp.dir, 'r.yaml');
    writeFileSync(rollout, 'id: r1\nrelease: { product: soil-probe, version: 1.1.0 }\nwaves:\n  - { size: rest }\n');
    expect((await cli(['-c', a.file, 'rollout', 'apply', '--yes', rollout])).code).toBe(0);
    const first = DaemonProcess.start(['-c', a.file, 'start']);
    daemons.push(first);
    await first.waitForMsg('CoAP listening');

    const dev = new TestDevice({ port: a.port, id: 'probe-1', key: s.deviceKey, ackTimeoutMs: 300 });
    devices.push(dev);
    await dev.open();
    const c = await dev.checkin(s.baseSha256, s.product);
    expect(c.reply.code).toBe('2.05');
    const uri = c.map.get(4) as string;
    expect(typeof uri).toBe('string');
    const part = await dev.download(uri, { szx: 6, stopAfterBlocks: 3 });
    expect(part.offset).toBe(3072);
    // The gateway's row: 3 KiB served; [0, 2 KiB) acknowledged by the request for the third block.
    await waitFor('the transfer progress to be written', () => transferRow(a.data)?.bytes_served === 3072);
    expect(transferRow(a.data)).toEqual({ offset: 2048, state: 'active', bytes_served: 3072 });

    // Under load: probe-2 downloads the whole patch while the backup is taken.
    const busy = new TestDevice({ port: a.port, id: 'probe-2', key: s.deviceKey, ackTimeoutMs: 300 });
    devices.push(busy);
    await busy.open();
    const busyUri = (await busy.checkin(s.baseSha256, s.product)).map.get(4) as string;
    const load = busy.download(busyUri, { szx: 6 });
    const archive = join(tmp.dir, 'gw.tar');
    const backup = await cli(['-c', a.file, 'backup', archive, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect((await load).data.equals(s.patch)).toBe(true);
    // The seed's base, target and patch, plus whatever the running daemon stored by itself before the copy
    // (its delta service may build a patch in the background): a count that depends on timing, not on backup.
    const summary = JSON.parse(backup.stdout) as { blobs: number };
    expect(summary).toMatchObject({ missingBlobs: [], corruptBlobs: [] });
    expect(summary.blobs).toBeGreaterThanOrEqual(3);
    // Restoring over the data dir of a running daemon is refused; the daemon is not touched.
    const refused = await cli(['-c', a.file, 'restore', archive, '--force']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/a furrow daemon \(pid \d+\) runs on /);
    await first.stop();

    const b = await gatewayConfig('b');
    const restored = await cli(['-c', b.file, 'restore', archive]);
    expect(restored.code, restored.stderr).toBe(0);
    // Every blob of the backup, the database and the gateway key.
    expect(restored.stdout).toContain(`into ${b.data}: ${summary.blobs + 2} files`);
    expect(transferRow(b.data)).toEqual({ offset: 2048, state: 'active', bytes_served: 3072 });
    expect(readFileSync(join(b.data, 'keys', 'gateway.pem'))).toEqual(readFileSync(join(a.data, 'keys', 'gateway.pem')));
    expect((await cli(['-c', b.file, 'restore', archive])).stderr).toContain('already holds a database');

    const second = DaemonProcess.start(['-c', b.file, 'start']);
    daemons.push(second);
    await second.waitForMsg('CoAP listening');
    const resumed = new TestDevice({ port: b.port, id: 'probe-1', key: s.deviceKey, ackTimeoutMs: 300 });
    devices.push(resumed);
    resumed.counter = dev.counter;
    await resumed.open();
    const again = await resumed.checkin(s.baseSha256, s.product);
    expect(again.map.get(4)).toBe(uri); // the same delivery token, from the restored database
    const rest = await resumed.download(uri, { szx: 6, offset: part.offset });
    expect(rest.done).toBe(true);
    expect(Buffer.concat([part.data, rest.data]).equals(s.patch)).toBe(true);
    await waitFor('the transfer to complete', () => transferRow(b.data)?.state === 'completed');
    // Only the rest was served by the restored gateway: nothing downloaded twice.
    expect(transferRow(b.data)!.bytes_served).toBe(s.patch.length);
    const status = await cli(['-c', b.file, 'rollout', 'status', 'r1']);
    expect(status.stdout).toMatch(/running/);
  });

  it('refuses a damaged backup and leaves the data dir as it was', async () => {
    const a = await gatewayConfig('a');
    seedDataDir(a.data);
    expect((await cli(['-c', a.file, 'keys', 'gateway'])).code).toBe(0);
    const archive = join(tmp.dir, 'gw.tar');
    expect((await cli(['-c', a.file, 'backup', archive])).code).toBe(0);
    expect((await cli(['-c', a.file, 'backup', archive])).stderr).toContain('already exists');
    // A plain ustar archive: GNU tar lists and extracts it, byte for byte.
    const listed = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n');
    expect(listed[0]).toBe('furrow.db');
    expect(listed.at(-1)).toBe('furrow-backup.json');
    expect(listed.filter((n) => n.startsWith('blobs/'))).toHaveLength(3);
    mkdirSync(join(tmp.dir, 'x'));
    execFileSync('tar', ['-xf', archive, '-C', join(tmp.dir, 'x')]);
    expect(readFileSync(join(tmp.dir, 'x', 'keys', 'gateway.pem'), 'utf8')).toBe(readFileSync(join(a.data, 'keys', 'gateway.pem'), 'utf8'));

    const bytes = readFileSync(archive);
    // Flip one byte inside the first blob's data (after the database): the manifest digest catches it.
    const blobHeader = bytes.indexOf(Buffer.from('blobs/'));
    const flipped = Buffer.from(bytes);
    flipped[blobHeader + 600] = flipped[blobHeader + 600]! ^ 0xff;
    writeFileSync(join(tmp.dir, 'flipped.tar'), flipped);
    writeFileSync(join(tmp.dir, 'short.tar'), bytes.subarray(0, bytes.length - 3000));
    // A well-formed tar that is not a furrow backup (a path outside the data dir).
    const fd = openSync(join(tmp.dir, 'evil.tar'), 'w');
    const tar = new TarWriter(fd);
    tar.addBuffer('../escape', Buffer.from('x'));
    tar.finish();
    closeSync(fd);

    const b = await gatewayConfig('b');
    for (const [name, message] of [
      ['flipped.tar', /does not match its SHA-256 in the manifest/],
      ['short.tar', /truncated|cut short|no furrow-backup\.json/],
      ['evil.tar', /unexpected entry "\.\.\/escape"/],
      ['missing.tar', /cannot read backup/],
    ] as const) {
      const r = await cli(['-c', b.file, 'restore', join(tmp.dir, name)]);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(message);
    }
    const after = await cli(['-c', b.file, 'devices', 'list']);
    expect(after.code).toBe(2); // no database appeared, and no half-restored directory
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('b-data'))).toEqual([]);

    // As root (sudo furrow restore), restored files belong to the owner of the data dir they replace, so the
    // daemon's user can still write them. This machine runs the tests as root, like the Pi's operator.
    if (process.getuid?.() === 0) {
      mkdirSync(b.data);
      chownSync(b.data, 65534, 65534);
      const ok = await cli(['-c', b.file, 'restore', archive]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(statSync(join(b.data, 'furrow.db')).uid).toBe(65534);
      expect(statSync(join(b.data, 'keys', 'gateway.pem'))).toMatchObject({ uid: 65534, gid: 65534 });
      expect(statSync(join(b.data, 'keys', 'gateway.pem')).mode & 0o777).toBe(0o600);
    }
  });
});
