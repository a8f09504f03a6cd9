/** Small, final answers: every refusal has a status, a one-line text body and a log line. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';

export function peerOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string | number> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // 204 and 304 carry no body (RFC 9110 §15.3.5, §15.4.5).
  if (status === 204 || status === 304) {
    res.writeHead(status, { 'Cache-Control': 'no-store', ...headers });
    res.end();
    return;
  }
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers, 'Content-Length': body.length });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Refusal with a warn line naming the peer and the reason. */
export function refuse(log: Logger, req: IncomingMessage, res: ServerResponse, status: number, reason: string, extra: Record<string, unknown> = {}, headers: Record<string, string | number> = {}): void {
  log.warn({ peer: peerOf(req), method: req.method, path: req.url?.split('?')[0], status, reason, ...extra }, 'http request refused');
  sendText(res, status, reason, headers);
}

export const retryAfter = (seconds: number) => ({ 'Retry-After': String(Math.max(1, Math.ceil(seconds))) });
