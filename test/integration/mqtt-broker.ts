/**
 * A real mosquitto (Debian package `mosquitto`) on a free loopback port, for the telemetry tests. It can be
 * SIGKILLed and started again on the same port with the same persistence file, like a broker that crashed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class Mosquitto {
  private proc: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  /** `persistent`: save sessions on every change (slower), so a persistent consumer survives a broker SIGKILL. */
  static async start(dir: string, opts: { persistent?: boolean; listenerLines?: string[]; lines?: string[]; anonymous?: boolean; port?: number } = {}): Promise<Mosquitto> {
    const persistent = opts.persistent ?? true;
    const port = opts.port ?? (await freePort());
    const conf = join(dir, 'mosquitto.conf');
    const store = join(dir, 'mosquitto-store');
    mkdirSync(store, { recursive: true });
    // Persistence saved on every change, so a persistent subscriber session survives a SIGKILL of the broker.
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        ...(opts.listenerLines ?? []),
        `allow_anonymous ${opts.anonymous ?? true}`,
        ...(opts.lines ?? []),
        // Started as root, mosquitto would drop to user `mosquitto`, which cannot write into our temp dir.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        ...(persistent ? ['persistence true', `persistence_location ${store}/`, 'autosave_interval 1', 'autosave_on_changes true'] : ['persistence false']),
        'max_queued_messages 100000',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    const b = new Mosquitto(port, conf);
    await b.restart();
    return b;
  }

  /** A broker on a config file written by the caller (which must listen on 127.0.0.1:`port`). */
  static async fromConfig(conf: string, port: number): Promise<Mosquitto> {
    const b = new Mosquitto(port, conf);
    await b.restart();
    return b;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    let proc: ChildProcess;
    try {
      proc = spawn('mosquitto', ['-c', this.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`cannot start mosquitto (install the Debian package mosquitto): ${(err as Error).message}`);
    }
    proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const spawnError = new Promise<never>((_, reject) =>
      proc.once('error', (err) => reject(new Error(`cannot start mosquitto (install the Debian package mosquitto): ${err.message}`))),
    );
    this.proc = proc;
    await Promise.race([
      spawnError,
      waitFor(`mosquitto on port ${this.port} (log: ${this.log})`, () => portOpen(this.port), 10_000),
    ]);
  }

  /** SIGKILL: no goodbye, no final save; like a crash or a power cut of the broker host. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

/** A consumer with a persistent session (clean=false, long session expiry), as a central service would run. */
export async function consumer(url: string, topic: string, opts: IClientOptions = {}): Promise<{ client: MqttClient; messages: Array<{ topic: string; body: Record<string, unknown>; retain: boolean; dup: boolean }> }> {
  const messages: Array<{ topic: string; body: Record<string, unknown>; retain: boolean; dup: boolean }> = [];
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    clean: false,
    clientId: `test-consumer-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 100,
    connectTimeout: 2000,
    ...opts,
  });
  client.on('error', () => undefined);
  client.on('message', (t, payload, packet) => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      body = { unparsed: payload.toString() }; // e.g. a deliberately bad command seen on a wildcard subscription
    }
    messages.push({ topic: t, body, retain: packet.retain, dup: packet.dup });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}
