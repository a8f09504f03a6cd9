import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, FurrowError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Service } from '../service.ts';
import type { Db } from '../store/database.ts';
import type { MetricsConfig } from './config.ts';
import type { TelemetryMetrics } from './metrics.ts';
import type { StatusSnapshot } from './status.ts';
import type { TelemetryState } from './state.ts';

export interface OpsHttpDeps {
  log: Logger;
  db: Db;
  metrics: TelemetryMetrics;
  state: TelemetryState;
  status: () => StatusSnapshot;
  config: () => MetricsConfig;
}

/**
 * The operator's local HTTP listener: /metrics (Prometheus), /healthz (process alive and the DB answers),
 * /readyz (every service started), /status (JSON for `furrow status`). Read-only; bound to loopback by
 * default because /status names devices.
 */
export class OpsHttpServer implements Service {
  readonly name = 'metrics-http';
  private server: Server | undefined;
  private bound: { host: string; port: number } | undefined;

  constructor(private readonly deps: OpsHttpDeps) {}

  /** The bound port (useful when configured as an ephemeral port in tests); undefined when disabled. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(): Promise<void> {
    const cfg = this.deps.config();
    if (cfg.port === 0) {
      this.deps.log.info('metrics.port is 0: /metrics, /healthz, /readyz and /status are off');
      return;
    }
    this.server = await this.listen(cfg);
    this.bound = { host: cfg.host, port: cfg.port };
    this.deps.log.info({ host: cfg.host, port: this.port }, 'metrics and status listening');
  }

  /** A new host or port: listen there first (a failure rejects the reload), then close the old listener. */
  async reload(): Promise<void> {
    const cfg = this.deps.config();
    if (this.bound && cfg.host === this.bound.host && cfg.port === this.bound.port) return;
    if (!this.bound && cfg.port === 0) return;
    const next = cfg.port === 0 ? undefined : await this.listen(cfg);
    const old = this.server;
    this.server = next;
    this.bound = next ? { host: cfg.host, port: cfg.port } : undefined;
    if (old) await closeServer(old);
    this.deps.log.info({ host: cfg.host, port: cfg.port }, next ? 'metrics and status moved' : 'metrics and status are off');
  }

  private async listen(cfg: MetricsConfig): Promise<Server> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.deps.log.error({ url: req.url, error: errorMessage(err) }, 'HTTP handler failed');
        if (!res.headersSent) send(res, 500, 'text/plain', `internal error: ${errorMessage(err)}\n`);
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new FurrowError('METRICS_LISTEN', `cannot listen on ${cfg.host}:${cfg.port} for /metrics: ${err.code ?? err.message}`, {
            hint: 'another process holds the port: change metrics.port (or FURROW_METRICS_PORT), or set it to 0 to disable',
            cause: err,
          }),
        ),
      );
      server.listen(cfg.port, cfg.host, () => resolve());
    });
    return server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.bound = undefined;
    if (server) await closeServer(server);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain', 'only GET and HEAD\n');
    }
    switch (path) {
      case '/metrics': {
        const body = await this.deps.metrics.registry.metrics();
        return send(res, 200, this.deps.metrics.registry.contentType, body);
      }
      case '/healthz': {
        try {
          this.deps.db.prepare('SELECT 1').get();
        } catch (err) {
          return send(res, 503, 'text/plain', `database not answering: ${errorMessage(err)}\n`);
        }
        return send(res, 200, 'text/plain', 'ok\n');
      }
      case '/readyz':
        return this.deps.state.ready ? send(res, 200, 'text/plain', 'ready\n') : send(res, 503, 'text/plain', 'starting or stopping\n');
      case '/status':
        return send(res, 200, 'application/json', JSON.stringify(this.deps.status()));
      default:
        return send(res, 404, 'text/plain', 'not found; try /metrics, /healthz, /readyz or /status\n');
    }
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}
