/** What a route is: a path pattern, the methods it takes, a handler. The server dispatches (server.ts). */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Route {
  /** First path segment, e.g. "update" for /update and "ota" for /ota/<token>. */
  readonly segment: string;
  /** Whether the route takes a second segment (/ota/<token>): required, optional or none. */
  readonly param: 'required' | 'optional' | 'none';
  readonly methods: readonly string[];
  handle(req: IncomingMessage, res: ServerResponse, url: URL, param: string | undefined): void | Promise<void>;
}
