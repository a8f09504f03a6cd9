/**
 * The HTTP(S) listeners on Node's http/https modules: per-address connection limits (counted on the
 * TCP connection, before a TLS handshake is spent on it), request-head size and time limits against
 * slowloris, idle timeouts, and dispatch by first path segment to the routes.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.ts';
import type { HttpConfig } from './config.ts';
import { peerOf, refuse } from './respond.ts';
import type { Route } from './routes.ts';

export interface ServerStats {
  requests: number;
  refusedConnections: number;
  clientErrors: number;
}

/** Log at most one line per kind per interval: a flood must not become a flood of log lines. */
class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly intervalMs = 1000) {}
  take(kind: string): number | undefined {
    const now = Date.now();
    const e = this.last.get(kind);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return undefined;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.set(kind, { at: now, suppressed: 0 });
    return suppressed;
  }
}

export class HttpFrontend {
  readonly stats: ServerStats = { requests: 0, refusedConnections: 0, clientErrors: 0 };
  private readonly servers: Array<{ server: Server; tls: boolean }> = [];
  private readonly perAddress = new Map<string, number>();
  private readonly routes = new Map<string, Route>();
  private readonly throttle = new LogThrottle();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly log: Logger,
    private cfg: HttpConfig,
  ) {}

  addRoute(r: Route): void {
    this.routes.set(r.segment, r);
  }

  setConfig(cfg: HttpConfig): void {
    this.cfg = cfg;
    for (const { server } of this.servers) this.applyTimeouts(server);
  }

  /** Open connections per client address (tests and status). */
  connectionsOf(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  async listenTls(tls: { cert: string; key: string }): Promise<number> {
    const server = createHttps({ cert: tls.cert, key: tls.key, maxHeaderSize: this.cfg.maxHeaderBytes, minVersion: 'TLSv1.2' }, (req, res) => this.dispatch(req, res));
    // A failed handshake (no CA on the client, plain HTTP to the TLS port) is the client's problem: one line.
    server.on('tlsClientError', (err, socket) => {
      this.stats.clientErrors++;
      const n = this.throttle.take('tls');
      if (n !== undefined) this.log.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, error: err.message, suppressed: n || undefined }, 'TLS handshake failed');
    });
    return this.listen(server, true, this.cfg.port);
  }

  async listenPlain(port: number): Promise<number> {
    const server = createHttp({ maxHeaderSize: this.cfg.maxHeaderBytes }, (req, res) => this.dispatch(req, res));
    return this.listen(server, false, port);
  }

  private applyTimeouts(server: Server): void {
    server.headersTimeout = this.cfg.headersTimeoutMs;
    server.requestTimeout = this.cfg.requestTimeoutMs;
    server.keepAliveTimeout = 5000;
    server.timeout = this.cfg.idleTimeoutMs;
  }

  private listen(server: Server, tls: boolean, port: number): Promise<number> {
    this.applyTimeouts(server);
    // Node checks headers/request timeouts on this interval; the default (30 s) is coarser than our limits.
    (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = 1000;
    server.on('connection', (socket: Socket) => this.admitConnection(socket));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    server.on('timeout', (socket: Socket) => {
      const n = this.throttle.take('idle');
      if (n !== undefined) this.log.info({ peer: `${socket.remoteAddress}:${socket.remotePort}`, idleMs: this.cfg.idleTimeoutMs, suppressed: n || undefined }, 'idle connection closed');
      socket.destroy();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.cfg.host, () => {
        server.off('error', reject);
        this.servers.push({ server, tls });
        const p = (server.address() as AddressInfo).port;
        this.log.info({ host: this.cfg.host, port: p, tls }, tls ? 'HTTPS listening' : 'plain HTTP listening (lab use: no TLS)');
        resolve(p);
      });
    });
  }

  private admitConnection(socket: Socket): void {
    const addr = socket.remoteAddress ?? '?';
    const n = (this.perAddress.get(addr) ?? 0) + 1;
    if (n > this.cfg.maxConnectionsPerAddress) {
      this.stats.refusedConnections++;
      const s = this.throttle.take(`limit:${addr}`);
      if (s !== undefined) this.log.warn({ address: addr, limit: this.cfg.maxConnectionsPerAddress, suppressed: s || undefined }, 'connection refused: too many open connections from this address');
      socket.destroy();
      return;
    }
    this.perAddress.set(addr, n);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perAddress.get(addr) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(addr);
      else this.perAddress.set(addr, left);
    });
  }

  /** Malformed or slow request heads: 431 / 408 / 400 where the socket can still take it, then close. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    // A client that reset the connection hears nothing and needs no line of its own.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
      socket.destroy();
      return;
    }
    this.stats.clientErrors++;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const n = this.throttle.take(`client:${status}`);
    if (n !== undefined) this.log.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, status, error: err.code ?? err.message, suppressed: n || undefined }, 'bad or slow request; connection closed');
    if (socket.writable) {
      const text = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status];
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://furrow.invalid');
    } catch {
      return refuse(this.log, req, res, 400, 'request target is not a valid path');
    }
    const parts = url.pathname.split('/').filter((p) => p.length > 0);
    const route = parts[0] ? this.routes.get(parts[0]) : undefined;
    let param: string | undefined;
    try {
      param = parts[1] === undefined ? undefined : decodeURIComponent(parts[1]);
    } catch {
      return refuse(this.log, req, res, 400, 'malformed percent-encoding in the path');
    }
    const fits = route && parts.length <= 2 && (route.param === 'required' ? param !== undefined : route.param === 'none' ? param === undefined : true);
    if (!route || !fits) return refuse(this.log, req, res, 404, `no resource ${url.pathname}; devices use /update (HTTPUpdate), /ota/<token> (esp_https_ota), /delta/<token> (esp_delta_ota), /status`);
    if (!route.methods.includes(req.method ?? '')) return refuse(this.log, req, res, 405, `${req.method} is not allowed on /${route.segment}`, {}, { Allow: route.methods.join(', ') });
    Promise.resolve()
      .then(() => route.handle(req, res, url, param))
      .catch((err: unknown) => {
        this.log.error({ peer: peerOf(req), path: url.pathname, err }, 'http handler failed');
        if (!res.headersSent) refuse(this.log, req, res, 500, 'internal error; see the gateway log');
        else res.destroy();
      });
  }

  async close(): Promise<void> {
    const closed = this.servers.map(({ server }) => new Promise<void>((r) => server.close(() => r())));
    // Downloads under way end now; their rows keep the offset reached and the device resumes with Range.
    for (const s of this.sockets) s.destroy();
    await Promise.all(closed);
    this.servers.length = 0;
  }

  ports(): Array<{ port: number; tls: boolean }> {
    return this.servers.map(({ server, tls }) => ({ port: (server.address() as AddressInfo).port, tls }));
  }
}
