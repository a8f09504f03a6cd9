/**
 * bench:http — downloads/s, MB/s and server RSS for 1, 50 and 500 concurrent HTTPS downloads of a corpus
 * image (WLED 0.14.4, 1.28 MB) the esp_https_ota way (GET /ota/<token>?version=...): the real furrow
 * daemon (rollout policy asked per request, transfers recorded) vs nginx (Debian) serving the same file
 * with the same certificate, same run, same client (Node https, keep-alive, one connection per client).
 * nginx runs one worker process, as furrow runs one event loop. Then two more rounds of 500 to show
 * furrow's memory does not grow with finished downloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpIdentityRepo } from '../../src/http/identity.ts';
import { openDatabase } from '../../src/store/database.ts';
import { DeviceRepo } from '../../src/store/devices.ts';
import { runFurrowInProcess } from '../helpers/cli.ts';
import { corpusPath, readCorpus } from '../helpers/corpus.ts';
import { DaemonProcess, freeTcpPort } from '../helpers/daemon.ts';

const LEVELS = [1, 50, 500];
const IMAGE = readCorpus('wled-esp32/0.14.4.bin');
const dir = mkdtempSync(join(tmpdir(), 'furrow-bench-http-'));
const children: ChildProcess[] = [];
let daemon: DaemonProcess | undefined;
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  daemon?.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Sum of RSS over a process and its children (nginx master + worker). */
function treeRssKiB(pid: number): number {
  let n = rssKiB(pid);
  try {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) n += rssKiB(Number(c));
  } catch {
    /* no children file */
  }
  return n;
}

async function furrow(args: string[]): Promise<string> {
  const r = await runFurrowInProcess(args);
  if (r.code !== 0) throw new Error(`furrow ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `concurrency` clients, each fetching its path `rounds` times; every body is checked for its length. */
async function load(port: number, ca: Buffer, paths: string[], rounds: number): Promise<{ downloads: number; seconds: number; bytes: number; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: paths.length, ca });
  let bytes = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    paths.map(async (path) => {
      for (let r = 0; r < rounds; r++) {
        const got = await new Promise<number>((resolve) => {
          const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
            let n = 0;
            res.on('data', (c: Buffer) => (n += c.length));
            res.on('end', () => resolve(res.statusCode === 200 ? n : -1));
            res.on('error', () => resolve(-1));
          });
          req.on('error', () => resolve(-1));
          req.end();
        });
        if (got === IMAGE.length) bytes += got;
        else failures++;
      }
    }),
  );
  agent.destroy();
  return { downloads: (paths.length * rounds) - failures, seconds: (performance.now() - t0) / 1000, bytes, failures };
}

const config = join(dir, 'furrow.yaml');
writeFileSync(config, `data: { dir: ${JSON.stringify(join(dir, 'data'))} }\nreleases: { allowUnsigned: true }\nrollouts: { unmanaged: newest }\ncoap: { host: 127.0.0.1, port: 0 }\nmetrics: { port: 0 }\nlog: { level: warn }\nhttp: { host: 127.0.0.1, port: 0, maxConnectionsPerAddress: 1000 }\n`);
await furrow(['-c', config, 'release', 'add', corpusPath('wled-esp32/0.14.3.bin'), '--product', 'wled', '--version', '0.14.3']);
await furrow(['-c', config, 'release', 'add', corpusPath('wled-esp32/0.14.4.bin'), '--product', 'wled', '--version', '0.14.4']);
const caPem = await furrow(['-c', config, 'http', 'cert']);
const db = openDatabase(join(dir, 'data', 'furrow.db'));
const tokens: string[] = [];
db.transaction(() => {
  for (let i = 0; i < Math.max(...LEVELS); i++) {
    const id = `bench-${i}`;
    new DeviceRepo(db).add({ id, product: 'wled' }, Date.now());
    tokens.push(new HttpIdentityRepo(db).enrol(id, `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`).token);
  }
})();
db.close();

daemon = DaemonProcess.start(['-c', config, 'start'], { env: { FURROW_LOG_LEVEL: 'info' } });
const listening = await daemon.waitFor((l) => l.msg === 'HTTPS listening', 60_000);
const furrowPort = listening.port as number;

const www = join(dir, 'www');
mkdirSync(join(www, 'ota'), { recursive: true });
writeFileSync(join(www, 'image.bin'), IMAGE, { mode: 0o644 });
// nginx's worker runs as an unprivileged user: it must be able to walk to the file (mkdtemp makes 0700).
chmodSync(dir, 0o755);
chmodSync(www, 0o755);
const nginxPort = await freeTcpPort();
writeFileSync(
  join(dir, 'nginx.conf'),
  `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\ndaemon off;\nevents { worker_connections 2048; }\n` +
    `http { access_log off; sendfile on; keepalive_requests 100000; client_body_temp_path ${dir}/t1; proxy_temp_path ${dir}/t2; fastcgi_temp_path ${dir}/t3; uwsgi_temp_path ${dir}/t4; scgi_temp_path ${dir}/t5;\n` +
    `  server { listen 127.0.0.1:${nginxPort} ssl; ssl_certificate ${dir}/data/http/gateway-cert.pem; ssl_certificate_key ${dir}/data/http/gateway-key.pem; root ${www};\n` +
    `    location /ota/ { default_type application/octet-stream; try_files /image.bin =404; } } }\n`,
);
let nginx: ChildProcess;
try {
  nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch {
  throw new Error('nginx is missing: apt-get install -y nginx-light');
}
nginx.on('error', () => {
  process.stderr.write('nginx is missing: apt-get install -y nginx-light\n');
  process.exit(1);
});
children.push(nginx);
await new Promise((r) => setTimeout(r, 800));

const ca = Buffer.from(caPem);
const rows: string[][] = [['server', 'clients', 'downloads', 'seconds', 'downloads/s', 'MB/s', 'RSS after (MiB)', 'failures']];
const ratios: number[] = [];
for (const c of LEVELS) {
  const rounds = c === 1 ? 20 : c === 50 ? 2 : 1;
  const paths = tokens.slice(0, c).map((t) => `/ota/${t}?version=0.14.3`);
  const f = await load(furrowPort, ca, paths, rounds);
  const fr = rssKiB(daemon.proc.pid!);
  const n = await load(nginxPort, ca, paths, rounds);
  const nr = treeRssKiB(nginx.pid!);
  for (const [name, r, rss] of [['furrow', f, fr], ['nginx (1 worker)', n, nr]] as const) {
    rows.push([name, String(c), String(r.downloads), r.seconds.toFixed(2), (r.downloads / r.seconds).toFixed(1), (r.bytes / 1e6 / r.seconds).toFixed(1), (rss / 1024).toFixed(1), String(r.failures)]);
  }
  ratios.push(f.bytes / f.seconds / (n.bytes / n.seconds));
}
const rssRounds: number[] = [];
for (let i = 0; i < 2; i++) {
  await load(furrowPort, ca, tokens.slice(0, 500).map((t) => `/ota/${t}?version=0.14.3`), 1);
  rssRounds.push(rssKiB(daemon.proc.pid!) / 1024);
}
const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(rows.map((r) => r.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ')).join('\n') + '\n');
process.stdout.write(`furrow / nginx MB/s: ${ratios.map((r, i) => `${LEVELS[i]} clients ${(100 * r).toFixed(0)} %`).join(', ')} (target ≥ 50 %)\n`);
process.stdout.write(`furrow RSS after two more rounds of 500 downloads: ${rssRounds.map((r) => r.toFixed(1)).join(', ')} MiB\n`);
await daemon.stop();
daemon = undefined;
nginx.kill('SIGTERM');
