/**
 * deploy/: the systemd unit verifies with systemd-analyze (Debian package systemd), keeps its hardening,
 * the installed config template validates, and the Pi install script parses and plans the right steps.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.ts';

const DEPLOY = resolve(import.meta.dirname, '../../../deploy');
const unitText = readFileSync(join(DEPLOY, 'furrow.service'), 'utf8');

function unitSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('deploy/furrow.service', () => {
  it('passes systemd-analyze verify without a warning', () => {
    const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
    if (which.status !== 0) throw new Error('systemd-analyze not found: install the Debian package systemd');
    const dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    try {
      // The installer writes the node path it finds; do the same so verify can check ExecStart here.
      const unit = join(dir, 'furrow.service');
      writeFileSync(unit, existsSync('/usr/bin/node') ? unitText : unitText.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(r.stderr.trim(), r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('would be caught by the check if a setting were misspelt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    try {
      const unit = join(dir, 'furrow.service');
      writeFileSync(unit, unitText.replace('ProtectSystem=strict', 'ProtectSystem=strictly').replace(/ExecStart=\S+ /, `ExecStart=${process.execPath} `));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(r.stderr).toMatch(/protect system value/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as a dedicated user in dialout with a state directory, sandboxed, restarted, watched', () => {
    const s = unitSettings(unitText);
    const one = (k: string) => s.get(k)?.[0];
    expect(one('User')).toBe('furrow');
    expect(one('SupplementaryGroups')).toBe('dialout');
    expect(one('StateDirectory')).toBe('furrow');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('Restart')).toBe('on-failure');
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all');
    expect(Number(one('WatchdogSec'))).toBeGreaterThan(0);
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('DevicePolicy')).toBe('closed');
    expect(s.get('DeviceAllow')).toContain('char-ttyUSB rw');
    expect(one('ExecStart')).toMatch(/ \/opt\/furrow\/current\/bin\/furrow\.js --config \/etc\/furrow\/furrow\.yaml start$/);
    // severity reaches journald: the daemon writes <N> prefixes (test/integration/journald-severity)
    expect(one('StandardOutput')).toBe('journal');
    expect(one('SyslogLevelPrefix')).toBe('true');
  });
});

describe('deploy/furrow.yaml', () => {
  it('is a valid furrow config once the installer fills in the gateway id', () => {
    const text = readFileSync(join(DEPLOY, 'furrow.yaml'), 'utf8').replaceAll('GATEWAY_ID', 'farm-north');
    const config = parseConfigText(text, join(DEPLOY, 'furrow.yaml'));
    expect(config.gateway.id).toBe('farm-north');
    expect(config.data.dir).toBe('/var/lib/furrow');
    expect(config.releases.allowUnsigned).toBe(false);
    expect(config.mqtt?.url).toBe('mqtt://127.0.0.1:1883');
    expect(config.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
  });
});

describe('deploy/install-pi.sh', () => {
  it('is valid bash and, in a dry run, plans user, package, config, unit and service steps', () => {
    execFileSync('bash', ['-n', join(DEPLOY, 'install-pi.sh')]);
    const r = spawnSync('bash', [join(DEPLOY, 'install-pi.sh'), '--dry-run', '--no-start', '--with-mosquitto'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('usermod -a -G dialout furrow');
    expect(r.stdout).toContain("npm ci --omit=dev");
    expect(r.stdout).toContain('would write: /etc/systemd/system/furrow.service');
    expect(r.stdout).toContain('apt-get install -y mosquitto mosquitto-clients');
    expect(r.stdout).toContain('systemctl enable furrow.service');
    // a fresh release directory and an atomic switch (test/integration/install-pi runs it for real)
    expect(r.stdout).toContain('mv -T /opt/furrow/releases/.new-X.Y.Z /opt/furrow/releases/X.Y.Z');
    expect(r.stdout).toContain('ln -sfn releases/X.Y.Z /opt/furrow/current.new');
    expect(r.stdout).toContain('mv -T /opt/furrow/current.new /opt/furrow/current');
    expect(r.stdout).toContain('dry run: nothing was changed');
  });

  it('refuses an unknown option with exit code 2', () => {
    const r = spawnSync('bash', [join(DEPLOY, 'install-pi.sh'), '--frobnicate'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option --frobnicate');
  });
});
