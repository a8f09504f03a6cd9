/**
 * POST /status/<token> (esp_https_ota) or POST /status with x-ESP32-STA-MAC (HTTPUpdate): the
 * optional report `{"status": "..."}` the ESP32 OTA guides post after an update, with an optional
 * "reason" and what the device runs now ("sha256" / "md5" / "version"). It feeds the same report
 * path as CoAP POST /r (rollout thresholds, MQTT, metrics). 204 on success.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { DeviceRepo, DeviceRow } from '../store/devices.ts';
import type { UpdateDesk } from './desk.ts';
import { normaliseMac, type HttpIdentityRepo } from './identity.ts';
import type { ImageIndex } from './images.ts';
import { refuse, sendText } from './respond.ts';
import type { Route } from './routes.ts';

type Status = 'downloading' | 'applied' | 'booted' | 'failed' | 'rolled_back';
const STATUS: Record<string, Status> = {
  downloading: 'downloading',
  applied: 'applied',
  booted: 'booted',
  ok: 'booted',
  success: 'booted',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  rolled_back: 'rolled_back',
  rollback: 'rolled_back',
};

export interface StatusDeps {
  log: Logger;
  devices: DeviceRepo;
  identity: HttpIdentityRepo;
  desk: UpdateDesk;
  images: ImageIndex;
  maxBodyBytes: () => number;
}

/** Reads the body up to `max` bytes; undefined when it is larger (the caller answers 413). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return resolve(undefined);
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        resolve(undefined);
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export function parseStatusBody(body: Buffer): { status: Status; reason?: string; claim: { sha256?: string; md5?: string; version?: string } } | string {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return `body is not JSON: ${(err as Error).message}`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'body must be a JSON object like {"status": "success"}';
  const o = v as Record<string, unknown>;
  const s = typeof o.status === 'string' ? STATUS[o.status.toLowerCase()] : undefined;
  if (!s) return `"status" must be one of ${Object.keys(STATUS).join(', ')}`;
  const out: { status: Status; reason?: string; claim: { sha256?: string; md5?: string; version?: string } } = { status: s, claim: {} };
  if (o.reason !== undefined) {
    if (typeof o.reason !== 'string' || Buffer.byteLength(o.reason) > 120) return '"reason" must be a string of at most 120 bytes';
    out.reason = o.reason;
  }
  for (const [k, re] of [['sha256', /^[0-9a-fA-F]{64}$/], ['md5', /^[0-9a-fA-F]{32}$/], ['version', /^.{1,64}$/]] as const) {
    const x = o[k];
    if (x === undefined) continue;
    if (typeof x !== 'string' || !re.test(x)) return `"${k}" is malformed`;
    out.claim[k] = k === 'version' ? x : x.toLowerCase();
  }
  return out;
}

export class StatusRoute implements Route {
  readonly segment = 'status';
  readonly param = 'optional';
  readonly methods = ['POST'];

  constructor(private readonly d: StatusDeps) {}

  private device(req: IncomingMessage, token: string | undefined): DeviceRow | undefined {
    let id: string | undefined;
    if (token !== undefined) id = this.d.identity.byToken(token);
    else {
      const raw = req.headers['x-esp32-sta-mac'] ?? req.headers['x-esp8266-sta-mac'];
      const mac = typeof raw === 'string' ? normaliseMac(raw) : undefined;
      id = mac ? this.d.identity.byMac(mac) : undefined;
    }
    return id ? this.d.devices.get(id) : undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse, _url: URL, token: string | undefined): Promise<void> {
    const device = this.device(req, token);
    if (!device) return refuse(this.d.log, req, res, token === undefined ? 403 : 404, token === undefined ? 'x-ESP32-STA-MAC missing or not enrolled' : 'no such status URL');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return refuse(this.d.log, req, res, 415, 'Content-Type must be application/json', { deviceId: device.id });
    const body = await readBody(req, this.d.maxBodyBytes());
    if (!body) return refuse(this.d.log, req, res, 413, `body larger than ${this.d.maxBodyBytes()} bytes`, { deviceId: device.id }, { Connection: 'close' });
    const r = parseStatusBody(body);
    if (typeof r === 'string') return refuse(this.d.log, req, res, 400, r, { deviceId: device.id });
    const running = Object.keys(r.claim).length > 0 ? this.d.images.find(device.product, r.claim) : undefined;
    this.d.desk.report(device, r.status, r.reason, running);
    sendText(res, 204, '');
  }
}
