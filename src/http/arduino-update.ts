/**
 * GET /update — Arduino HTTPUpdate (`httpUpdate.update(client, "https://gw:8443/update")`): the
 * device is known by its station MAC; 304 = "no update" (HTTP_UPDATE_NO_UPDATES: current, not admitted
 * now, or nothing that fits), 200 with Content-Length and x-MD5 = the image, which HTTPUpdate checks
 * with Update.setMD5() before it switches the boot partition. 403 (HTTP_UE_SERVER_FORBIDDEN) for a MAC
 * that is not enrolled.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { DeviceRepo } from '../store/devices.ts';
import { parseArduinoHeaders } from './arduino-headers.ts';
import type { UpdateDesk } from './desk.ts';
import type { HttpIdentityRepo } from './identity.ts';
import type { ImageIndex } from './images.ts';
import { peerOf, refuse, retryAfter, sendText } from './respond.ts';
import type { Route } from './routes.ts';
import { imageOf, type ImageSender } from './send-image.ts';

export interface ArduinoDeps {
  log: Logger;
  devices: DeviceRepo;
  identity: HttpIdentityRepo;
  desk: UpdateDesk;
  images: ImageIndex;
  sender: ImageSender;
}

export class ArduinoUpdateRoute implements Route {
  readonly segment = 'update';
  readonly param = 'none';
  readonly methods = ['GET', 'HEAD'];

  constructor(private readonly d: ArduinoDeps) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    const h = parseArduinoHeaders(req);
    if (typeof h === 'string') return refuse(this.d.log, req, res, 400, h);
    const id = this.d.identity.byMac(h.mac);
    const device = id ? this.d.devices.get(id) : undefined;
    if (!device) return refuse(this.d.log, req, res, 403, `MAC ${h.mac} is not enrolled; add it with \`furrow devices add <id> --product P --mac ${h.mac}\``, { mac: h.mac });
    if (h.mode !== 'sketch') {
      this.d.log.info({ peer: peerOf(req), deviceId: device.id, mode: h.mode }, 'HTTPUpdate asked for a file system image; furrow serves app images only: 304');
      return sendText(res, 304, 'no file system images here');
    }
    const answer = this.d.desk.checkin(device, { md5: h.md5, sha256: h.sha256, version: h.version });
    if (answer.kind === 'current') {
      this.d.log.debug({ deviceId: device.id, running: answer.running?.version ?? 'unknown' }, 'HTTPUpdate: no update (304)');
      return sendText(res, 304, 'no update');
    }
    if (answer.kind === 'later') {
      this.d.log.info({ deviceId: device.id, retryAfterSeconds: answer.retryAfterSeconds, reason: answer.reason }, 'HTTPUpdate: not now (304)');
      return sendText(res, 304, answer.reason, retryAfter(answer.retryAfterSeconds));
    }
    const release = answer.release;
    // HTTPUpdate refuses an image above getFreeSketchSpace() only after the 200: say no before a byte moves.
    if (h.freeSpace !== undefined && release.size > h.freeSpace) {
      this.d.log.warn({ deviceId: device.id, size: release.size, freeSpace: h.freeSpace, version: release.version }, 'HTTPUpdate: the release does not fit the OTA slot the device reports; 304');
      return sendText(res, 304, `release ${release.version} (${release.size} bytes) does not fit the ${h.freeSpace}-byte OTA slot`);
    }
    let md5: string;
    try {
      md5 = this.d.images.digests(release.sha256).md5;
    } catch (err) {
      this.d.log.error({ deviceId: device.id, release: release.sha256.slice(0, 12), err }, 'release image unavailable');
      return refuse(this.d.log, req, res, 503, 'image unavailable on the gateway; try again later', { deviceId: device.id }, retryAfter(300));
    }
    this.d.sender.send(req, res, device.id, imageOf(release), { 'x-MD5': md5 }, (seconds, reason) => {
      this.d.log.info({ deviceId: device.id, retryAfterSeconds: seconds, reason }, 'HTTPUpdate: held by the gate (304)');
      sendText(res, 304, reason, retryAfter(seconds));
    });
  }
}
