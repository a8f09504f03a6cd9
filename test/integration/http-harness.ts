/**
 * A real daemon with the HTTPS server on an ephemeral port, corpus releases, devices enrolled by MAC
 * (`devices add --mac`) and rollouts applied with the CLI; curl and wget drive it as the stock clients.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { corpusPath } from '../helpers/corpus.ts';
import { runFurrowInProcess as runFurrow } from '../helpers/cli.ts';
import { DaemonProcess } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';

export interface HttpGateway {
  dir: string;
  config: string;
  port: number;
  /** Plain HTTP port when the config turns it on (plainPort). */
  plainPort: number | undefined;
  ca: string;
  base: string;
  daemon: DaemonProcess;
  /** esp_https_ota URL path per device id. */
  tokens: Map<string, string>;
  /** A read-only view of the daemon's SQLite file. */
  readDb(): Db;
  stop(): Promise<void>;
}

export async function cli(args: string[]): Promise<string> {
  const r = await runFurrow(args);
  if (r.code !== 0) throw new Error(`furrow ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export async function startHttpGateway(opts: {
  releases: Array<{ file: string; product: string; version: string }>;
  devices: Array<{ id: string; product: string; mac: string }>;
  rollouts: Array<{ id: string; yaml: string }>;
  http?: string;
}): Promise<HttpGateway> {
  const tmp = tempDir('furrow-http-');
  const config = join(tmp.dir, 'furrow.yaml');
  writeFileSync(
    config,
    `data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\ncoap: { host: 127.0.0.1, port: 0 }\nmetrics: { port: 0 }\n` +
      `http: { host: 127.0.0.1, port: 0${opts.http ? `, ${opts.http}` : ''} }\n`,
  );
  const c = (...a: string[]) => cli(['-c', config, ...a]);
  for (const r of opts.releases) await c('release', 'add', corpusPath(r.file), '--product', r.product, '--version', r.version);
  const tokens = new Map<string, string>();
  for (const d of opts.devices) {
    const out = await c('devices', 'add', d.id, '--product', d.product, '--mac', d.mac);
    tokens.set(d.id, /^ota url path (\S+)/m.exec(out)![1]!);
  }
  for (const r of opts.rollouts) {
    const f = join(tmp.dir, `${r.id}.yaml`);
    writeFileSync(f, r.yaml);
    await c('rollout', 'apply', f);
  }
  const ca = join(tmp.dir, 'gateway-ca.pem');
  writeFileSync(ca, await c('http', 'cert'));
  const daemon = DaemonProcess.start(['-c', config, 'start']);
  const listening = await daemon.waitFor((l) => l.msg === 'HTTPS listening');
  await daemon.waitForMsg('furrow started');
  const port = listening.port as number;
  const plainPort = daemon.lines.find((l) => l.msg.startsWith('plain HTTP listening'))?.port as number | undefined;
  let db: Db | undefined;
  return {
    dir: tmp.dir,
    config,
    port,
    plainPort,
    ca,
    base: `https://127.0.0.1:${port}`,
    daemon,
    tokens,
    readDb: () => (db ??= openDatabase(join(tmp.dir, 'data', 'furrow.db'), { readonly: true, skipIntegrityCheck: true })),
    async stop() {
      db?.close();
      await daemon.stop();
      tmp.cleanup();
    },
  };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command to completion (curl, wget): exit code and output, never a throw. */
export function run(bin: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** curl with the gateway CA; `-w` prints status and the response headers end up in stdout's tail. */
export async function curl(gw: HttpGateway, path: string, args: string[] = []): Promise<Run & { status: number; headers: Record<string, string> }> {
  const headerFile = join(gw.dir, `h-${Math.random().toString(36).slice(2)}.txt`);
  const r = await run('curl', ['-sS', '--cacert', gw.ca, '-D', headerFile, '-w', '\n%{http_code}', ...args, `${gw.base}${path}`]);
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.at(-1));
  let headers: Record<string, string> = {};
  try {
    const { readFileSync } = await import('node:fs');
    const blocks = readFileSync(headerFile, 'utf8').trim().split(/\r?\n\r?\n/);
    headers = Object.fromEntries(
      blocks
        .at(-1)!
        .split(/\r?\n/)
        .slice(1)
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
  } catch {
    /* no response head (TLS refused) */
  }
  return { ...r, stdout: lines.slice(0, -1).join('\n'), status, headers };
}
