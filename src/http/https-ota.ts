/**
 * GET|HEAD /ota/<token> — esp_https_ota (ESP-IDF): one unguessable URL per device (`furrow devices add
 * --mac` prints it). What the device runs comes from the query (?sha256=, ?md5=, ?version=) or the
 * HTTPUpdate-style headers; HTTP.md has the device code. 200/206/416 per RFC 9110 §14 (send-image.ts);
 * 304 when the device runs what it should; 503 with Retry-After when the rollout or the radio budget
 * says "not now", which makes esp_https_ota_begin() fail before the passive slot is touched.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { DeviceRepo, DeviceRow } from '../store/devices.ts';
import type { DeskAnswer, UpdateDesk } from './desk.ts';
import type { HttpIdentityRepo } from './identity.ts';
import type { RunningClaim } from './images.ts';
import { refuse, retryAfter, sendText } from './respond.ts';
import type { Route } from './routes.ts';
import { imageOf, type ImageSender } from './send-image.ts';

export interface OtaDeps {
  log: Logger;
  devices: DeviceRepo;
  identity: HttpIdentityRepo;
  desk: UpdateDesk;
  sender: ImageSender;
}

/** The running-image claim from ?sha256= / ?md5= / ?version= (or the x-ESP32-* headers); a message when malformed. */
export function parseClaim(req: IncomingMessage, url: URL): RunningClaim | string {
  const q = (k: string) => {
    const all = url.searchParams.getAll(k);
    return all.length > 1 ? null : all[0];
  };
  const hdr = (k: string) => {
    const v = req.headers[k];
    return Array.isArray(v) ? null : v;
  };
  const sha = q('sha256') ?? hdr('x-esp32-sketch-sha256');
  const md5 = q('md5') ?? hdr('x-esp32-sketch-md5');
  const version = q('version') ?? hdr('x-esp32-version');
  if (sha === null || (sha !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha))) return 'sha256 must be one value of 64 hex digits';
  if (md5 === null || (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5))) return 'md5 must be one value of 32 hex digits';
  if (version === null || (version !== undefined && (version.length === 0 || version.length > 64))) return 'version must be one value of 1..64 characters';
  if (sha === undefined && md5 === undefined && version === undefined) return 'say what the device runs: ?sha256=<esp_partition_get_sha256 of the running partition>, ?md5= or ?version= (HTTP.md)';
  return { sha256: sha?.toLowerCase(), md5: md5?.toLowerCase(), version };
}

/** A Range asking from a byte past 0: the middle of a download, not a new check-in. */
export function continues(req: IncomingMessage): boolean {
  const m = /^\s*bytes\s*=\s*(\d+)-/i.exec(req.headers.range ?? '');
  return m !== null && Number(m[1]) > 0;
}

/**
 * The shared front of /ota and /delta: the device by URL token (404, not 403, for an unknown one: it
 * says nothing about which tokens exist), its claim (400), and the desk's answer; 304 when current and
 * 503 + Retry-After when not now are answered here. Undefined when the request is already answered.
 */
export function tokenCheckin(d: Pick<OtaDeps, 'log' | 'devices' | 'identity' | 'desk'>, req: IncomingMessage, res: ServerResponse, url: URL, token: string | undefined, what: string): { device: DeviceRow; answer: Extract<DeskAnswer, { kind: 'update' }> } | undefined {
  const id = token ? d.identity.byToken(token) : undefined;
  const device = id ? d.devices.get(id) : undefined;
  if (!device) {
    refuse(d.log, req, res, 404, `no such ${what} URL; \`furrow devices show <id>\` prints a device's URL`);
    return undefined;
  }
  const claim = parseClaim(req, url);
  if (typeof claim === 'string') {
    refuse(d.log, req, res, 400, claim, { deviceId: device.id });
    return undefined;
  }
  const answer = d.desk.checkin(device, claim, { continuation: continues(req) });
  if (answer.kind === 'current') sendText(res, 304, 'no update');
  else if (answer.kind === 'later') {
    d.log.info({ deviceId: device.id, retryAfterSeconds: answer.retryAfterSeconds, reason: answer.reason }, `${what}: not now (503)`);
    sendText(res, 503, answer.reason, retryAfter(answer.retryAfterSeconds));
  } else return { device, answer };
  return undefined;
}

export class HttpsOtaRoute implements Route {
  readonly segment = 'ota';
  readonly param = 'required';
  readonly methods = ['GET', 'HEAD'];

  constructor(private readonly d: OtaDeps) {}

  handle(req: IncomingMessage, res: ServerResponse, url: URL, token: string | undefined): void {
    const got = tokenCheckin(this.d, req, res, url, token, 'esp_https_ota');
    if (!got) return;
    const { device, answer } = got;
    this.d.sender.send(req, res, device.id, imageOf(answer.release), {}, (seconds, reason) => {
      this.d.log.info({ deviceId: device.id, retryAfterSeconds: seconds, reason }, 'esp_https_ota: held by the gate (503)');
      sendText(res, 503, reason, retryAfter(seconds));
    });
  }
}
