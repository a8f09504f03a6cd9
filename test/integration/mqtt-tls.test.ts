/**
 * MQTT over TLS with a client certificate and a username/password file, against mosquitto configured to
 * require all three; certificates made by openssl for the test. Wrong credentials keep events in the outbox.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { parseConfigText } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { InputError } from '../../src/errors.ts';
import { EventBus } from '../../src/events.ts';
import { silentLogger } from '../../src/log.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase } from '../../src/store/database.ts';
import { Outbox } from '../../src/store/outbox.ts';
import { createTelemetry, type Telemetry } from '../../src/telemetry/index.ts';
import { consumer, Mosquitto, waitFor } from './mqtt-broker.ts';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('openssl not found: install the Debian package openssl');
    throw new Error(`openssl ${args.join(' ')} failed: ${(err as { stderr?: Buffer }).stderr?.toString()}`);
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all EC P-256. */
function makePki(tls: string): void {
  mkdirSync(tls, { recursive: true });
  const key = (name: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], tls);
  key('ca');
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=furrow test CA', '-days', '2', '-out', 'ca.pem'], tls);
  for (const [name, cn, ext] of [
    ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['gateway', 'gw-tls', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    key(name);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`], tls);
    writeFileSync(join(tls, `${name}.ext`), `${ext}\n`);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], tls);
  }
}

describe('MQTT with TLS, a client certificate and a password', () => {
  let dir: string;
  let broker: Mosquitto;
  const running: Array<{ tel: Telemetry; ctx: DaemonContext }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'furrow-'));
    const tls = join(dir, 'tls');
    makePki(tls);
    const pw = join(dir, 'broker-passwords');
    execFileSync('mosquitto_passwd', ['-b', '-c', pw, 'gw-tls', 's3cret-pass'], { stdio: 'pipe' });
    mkdirSync(join(dir, 'secrets'));
    writeFileSync(join(dir, 'secrets', 'mqtt-password'), 's3cret-pass\n');
    writeFileSync(join(dir, 'secrets', 'wrong-password'), 'not-it\n');
    broker = await Mosquitto.start(dir, {
      persistent: false,
      anonymous: false,
      listenerLines: [`cafile ${tls}/ca.pem`, `certfile ${tls}/server.pem`, `keyfile ${tls}/server.key`, 'require_certificate true'],
      lines: [`password_file ${pw}`],
    });
  });

  afterAll(async () => {
    for (const { tel, ctx } of running) {
      for (const s of [...tel.frontends].reverse()) await s.stop();
      await tel.recorder.stop();
      ctx.db.close();
    }
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(name: string, passwordFile: string, tls = '{ ca: tls/ca.pem, cert: tls/gateway.pem, key: tls/gateway.key }'): Promise<{ tel: Telemetry; ctx: DaemonContext }> {
    // Paths relative to the config file's directory, as an operator writes them.
    const file = join(dir, `${name}.yaml`);
    const yaml = [
      'gateway: { id: gw-tls }',
      'metrics: { port: 0 }',
      'mqtt:',
      `  url: mqtts://127.0.0.1:${broker.port}`,
      '  username: gw-tls',
      `  passwordFile: ${passwordFile}`,
      '  reconnectSeconds: 0.1',
      `  tls: ${tls}`,
    ].join('\n');
    const config = parseConfigText(yaml, file);
    const log = silentLogger();
    const ctx: DaemonContext = {
      config,
      configFile: file,
      log,
      db: openDatabase(join(dir, `${name}.db`), { skipIntegrityCheck: true }),
      blobs: new BlobStore(join(dir, 'blobs')),
      events: new EventBus(log),
      clock: systemClock,
    };
    const tel = createTelemetry(ctx);
    await tel.recorder.start();
    try {
      for (const s of tel.frontends) await s.start();
    } catch (err) {
      await tel.recorder.stop();
      ctx.db.close();
      throw err;
    }
    running.push({ tel, ctx });
    return { tel, ctx };
  }

  it('connects with the CA, client certificate and password file, and delivers events', async () => {
    const tls = join(dir, 'tls');
    const sub = await consumer(`mqtts://127.0.0.1:${broker.port}`, 'furrow/gw-tls/#', {
      clean: true,
      properties: {},
      username: 'gw-tls',
      password: 's3cret-pass',
      ca: readFileSync(join(tls, 'ca.pem')),
      cert: readFileSync(join(tls, 'gateway.pem')),
      key: readFileSync(join(tls, 'gateway.key')),
    });
    const { tel, ctx } = await start('good', 'secrets/mqtt-password');
    await waitFor('TLS connection', () => tel.state.mqtt.connected);
    ctx.events.emit('device.report', { deviceId: 'probe-1', status: 'updated' });
    await waitFor('event over TLS', () => sub.messages.some((m) => m.topic === 'furrow/gw-tls/devices/probe-1/result'));
    await sub.client.endAsync(true);
  });

  it('keeps events in the outbox and reports why while the broker refuses the password', async () => {
    const { tel, ctx } = await start('bad', 'secrets/wrong-password');
    ctx.events.emit('device.report', { deviceId: 'probe-2', status: 'updated' });
    await waitFor('a refusal', () => /not authori[sz]ed|bad user name or password/i.test(tel.state.mqtt.lastError ?? ''));
    expect(tel.state.mqtt.connected).toBe(false);
    expect(new Outbox(ctx.db).depth()).toBe(1);
  });

  it('refuses to start when a TLS or password file is missing, naming the setting and the path', async () => {
    const ca = await start('missing-ca', 'secrets/mqtt-password', '{ ca: tls/nope.pem }').catch((e: unknown) => e);
    expect(ca).toBeInstanceOf(InputError);
    expect((ca as InputError).message).toBe(`mqtt.tls.ca: cannot read ${join(dir, 'tls', 'nope.pem')}: ENOENT`);
    const pw = await start('missing-pw', 'secrets/nope-password').catch((e: unknown) => e);
    expect(pw).toBeInstanceOf(InputError);
    expect((pw as InputError).message).toBe(`mqtt.passwordFile: cannot read ${join(dir, 'secrets', 'nope-password')}: ENOENT`);
    const half = await start('half-pair', 'secrets/mqtt-password', '{ ca: tls/ca.pem, cert: tls/gateway.pem }').catch((e: unknown) => e);
    expect((half as InputError).message).toBe('mqtt.tls: cert and key must be given together');
  });
});
