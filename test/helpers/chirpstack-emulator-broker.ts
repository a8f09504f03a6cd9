/**
 * mosquitto (Debian package `mosquitto`) on a free loopback port for the LoRa tests. A missing binary
 * fails the test with the package name (global-setup checks it too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freeTcpPort(): Promise<number> {
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

export interface Broker {
  url: string;
  stop(): Promise<void>;
}

export async function startMosquitto(onPort?: number): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-lora-mqtt-'));
  const port = onPort ?? (await freeTcpPort());
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'max_queued_messages 100000', 'set_tcp_nodelay true', 'log_type error', ''].join('\n'));
  let proc: ChildProcess;
  let log = '';
  const failed = new Promise<never>((_, reject) => {
    proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.once('error', (err) => reject(new Error(`cannot start mosquitto (apt-get install -y mosquitto): ${err.message}`)));
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  });
  const deadline = Date.now() + 10_000;
  const up = (async () => {
    while (!(await portOpen(port))) {
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await Promise.race([failed, up]);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
