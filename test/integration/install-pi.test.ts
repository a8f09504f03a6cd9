/**
 * deploy/install-pi.sh for real, into a file system tree in a temp dir (`--root`): the packed compiled
 * build as a tarball, the furrow user added to that tree's /etc/passwd by useradd, the config checked by
 * the release itself, the unit verified by systemd-analyze and enabled by `systemctl --root`. Only the
 * running system is left alone (no restart: there is no systemd here), and packages are not installed
 * (`--no-apt`, `--node-modules`: npm ci of the native modules takes minutes). Upgrades go into a new
 * directory and switch one symlink; --rollback switches back; a missing program stops it, named.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.ts';
import { layOutPackedRelease } from '../helpers/packed.ts';
import { tempDir } from '../helpers/tmp.ts';

const SCRIPT = join(REPO_ROOT, 'deploy/install-pi.sh');


describe.runIf(process.getuid?.() === 0)('deploy/install-pi.sh into a --root tree', () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string;
  let v1: string;
  let v2: string;
  const at = (p: string) => join(root, p);
  const install = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync('bash', [SCRIPT, '--root', root, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const tarball = (version: string, extra: Record<string, string>) => {
    const stage = join(tmp.dir, `stage-${version}`);
    cpSync(join(tmp.dir, 'pkg'), join(stage, 'package'), { recursive: true });
    const pj = JSON.parse(readFileSync(join(stage, 'package/package.json'), 'utf8'));
    writeFileSync(join(stage, 'package/package.json'), JSON.stringify({ ...pj, version }, null, 2));
    for (const [f, text] of Object.entries(extra)) writeFileSync(join(stage, 'package', f), text);
    const file = join(tmp.dir, `furrow-ota-${version}.tgz`);
    execFileSync('tar', ['-czf', file, '-C', stage, 'package']);
    return file;
  };

  beforeAll(() => {
    tmp = tempDir('furrow-install-');
    layOutPackedRelease(join(tmp.dir, 'pkg'));
    v1 = tarball('0.1.0', { 'dist/ONLY-IN-0.1.0': 'a file the next release no longer has\n' });
    v2 = tarball('0.2.0', {});
    root = join(tmp.dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    // The tree's own user database, as on an image; useradd --prefix edits these.
    for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  }, 180_000);

  afterAll(() => tmp?.cleanup());

  it('installs a release into releases/<version> and points current, the unit and /usr/local/bin/furrow at it', () => {
    const r = install(['--from', v1, '--no-apt', '--node-modules', join(REPO_ROOT, 'node_modules'), '--no-start']);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toContain('switching current: none -> 0.1.0');
    expect(readlinkSync(at('opt/furrow/current'))).toBe('releases/0.1.0');
    expect(existsSync(at('opt/furrow/previous'))).toBe(false);
    const rel = at('opt/furrow/releases/0.1.0');
    expect(readFileSync(join(rel, '.furrow-release'), 'utf8')).toMatch(/^version=0\.1\.0\nsha256=[0-9a-f]{64}\n$/);
    expect(existsSync(join(rel, 'dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(rel, 'node_modules/better-sqlite3/package.json'))).toBe(true);
    expect(statSync(join(rel, 'bin/furrow.js')).mode & 0o022).toBe(0);
    expect(readdirSync(at('opt/furrow/releases'))).toEqual(['0.1.0']);

    const passwd = readFileSync(at('etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^furrow:x:\d+:\d+::\/var\/lib\/furrow:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(at('etc/group'), 'utf8')).toMatch(/^dialout:x:\d+:(.*,)?furrow(,.*)?$/m);
    const gid = Number(/^furrow:x:(\d+):/m.exec(readFileSync(at('etc/group'), 'utf8'))![1]);
    const conf = at('etc/furrow/furrow.yaml');
    expect(readFileSync(conf, 'utf8')).toContain(`id: ${hostname().split('.')[0]}`);
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    expect(statSync(conf).gid).toBe(gid);

    const unit = readFileSync(at('etc/systemd/system/furrow.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\S+node \/opt\/furrow\/current\/bin\/furrow\.js --config \/etc\/furrow\/furrow\.yaml start$/m);
    expect(readlinkSync(at('etc/systemd/system/multi-user.target.wants/furrow.service'))).toBe('/etc/systemd/system/furrow.service');
    expect(readlinkSync(at('usr/local/bin/furrow'))).toBe('/opt/furrow/current/bin/furrow.js');
    expect(existsSync(at('etc/systemd/journald.conf.d/furrow.conf'))).toBe(true);
    expect(r.out).toContain('not restarting furrow');
  });

  it('upgrades into a new directory, reusing unchanged dependencies, and never writes into the old tree', () => {
    writeFileSync(at('etc/furrow/furrow.yaml'), readFileSync(at('etc/furrow/furrow.yaml'), 'utf8').replace('level: info', 'level: debug'));
    const r = install(['--from', v2, '--no-apt', '--no-start']);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toContain('dependencies unchanged since 0.1.0: linking its node_modules');
    expect(r.out).toContain('keeping the existing');
    expect(readlinkSync(at('opt/furrow/current'))).toBe('releases/0.2.0');
    expect(readlinkSync(at('opt/furrow/previous'))).toBe('releases/0.1.0');
    expect(existsSync(at('opt/furrow/current/dist/ONLY-IN-0.1.0'))).toBe(false);
    expect(existsSync(at('opt/furrow/releases/0.1.0/dist/ONLY-IN-0.1.0'))).toBe(true);
    expect(readFileSync(at('etc/furrow/furrow.yaml'), 'utf8')).toContain('level: debug');
    expect(existsSync(at('opt/furrow/current/node_modules/better-sqlite3/package.json'))).toBe(true);
  });

  it('rolls back to the previous release and forward again; the same tarball is not unpacked twice', () => {
    const back = install(['--rollback', '--no-start']);
    expect(back.code, back.err).toBe(0);
    expect(back.out).toContain('rolling back: 0.2.0 -> 0.1.0');
    expect(readlinkSync(at('opt/furrow/current'))).toBe('releases/0.1.0');
    expect(readlinkSync(at('opt/furrow/previous'))).toBe('releases/0.2.0');
    const again = install(['--from', v2, '--no-apt', '--no-start']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('release 0.2.0 is already unpacked');
    expect(readlinkSync(at('opt/furrow/current'))).toBe('releases/0.2.0');
    expect(readdirSync(at('opt/furrow/releases')).sort()).toEqual(['0.1.0', '0.2.0']);
  });

  it('refuses a config the new release rejects and leaves current where it was', () => {
    const good = readFileSync(at('etc/furrow/furrow.yaml'), 'utf8');
    writeFileSync(at('etc/furrow/furrow.yaml'), `${good}\ncoap:\n  port: "not a port"\n`);
    try {
      const v3 = tarball('0.3.0', {});
      const r = install(['--from', v3, '--no-apt', '--no-start']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/does not validate with release 0\.3\.0.*the running release is unchanged/);
      expect(readlinkSync(at('opt/furrow/current'))).toBe('releases/0.2.0');
    } finally {
      writeFileSync(at('etc/furrow/furrow.yaml'), good);
    }
  });

  it('stops before changing anything when a program the daemon runs is missing, naming its package', () => {
    // Every program on PATH except xz.
    const bin = join(tmp.dir, 'path-without-xz');
    mkdirSync(bin);
    for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
      if (!existsSync(d) || realpathSync(d) !== d) continue;
      for (const f of readdirSync(d)) if (f !== 'xz' && !existsSync(join(bin, f))) symlinkSync(join(d, f), join(bin, f));
    }
    if (!existsSync(join(bin, 'node'))) symlinkSync(process.execPath, join(bin, 'node'));
    const fresh = join(tmp.dir, 'fresh-root');
    mkdirSync(fresh);
    const r = spawnSync('bash', [SCRIPT, '--root', fresh, '--from', v1, '--no-apt', '--no-start'], { encoding: 'utf8', env: { ...process.env, PATH: bin } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not on PATH: xz (package xz-utils); install them: apt-get install -y xz-utils');
    expect(readdirSync(fresh)).toEqual([]);
  });

  it('says so when there is nothing to roll back to', () => {
    const empty = join(tmp.dir, 'empty-root');
    mkdirSync(empty);
    const r = spawnSync('bash', [SCRIPT, '--root', empty, '--rollback'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no previous release to roll back to');
  });
});

describe('deploy/install-pi.sh checks every program the daemon runs', () => {
  it('lists each program spawned under src/ with its Debian package', () => {
    const script = readFileSync(SCRIPT, 'utf8');
    const listed = new Set(/^RUNTIME_PROGRAMS="([^"]*)"/m.exec(script)![1]!.split(' ').map((e) => e.split(':')[0]));
    const spawned = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          const text = readFileSync(p, 'utf8');
          for (const m of text.matchAll(/\b(?:spawn|spawnSync|execFile|execFileSync|runFilter)\('([\w.-]+)'/g)) spawned.add(m[1]!);
          // xz runs inside a shell batch (src/delta/xz.ts): `xz ${args} ...`
          for (const m of text.matchAll(/`([\w.-]+) \$\{xzArgs/g)) spawned.add(m[1]!);
        }
      }
    };
    walk(join(REPO_ROOT, 'src'));
    expect([...spawned].sort()).toEqual(['bzip2', 'sh', 'systemd-notify', 'xz']);
    for (const p of spawned) expect(listed, `RUNTIME_PROGRAMS lacks ${p}`).toContain(p);
  });
});
