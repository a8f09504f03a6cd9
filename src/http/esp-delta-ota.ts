/**
 * GET|HEAD /delta/<token> — esp_delta_ota (idf-extra-components): the same per-device URL token and
 * running-image claim as /ota/<token> (the `sha256` is esp_partition_get_sha256() of the running app,
 * which is also what esp_delta_ota's header carries), answered with a detools patch from that image to
 * the release the rollout offers, wrapped in esp_delta_ota's 64-byte header; Range as for /ota.
 * 304 current; 503 + Retry-After not now or while the patch is built; 409 when the running image is
 * not in the store (no base to diff against: use /ota/<token> for the whole image).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { DeviceRepo } from '../store/devices.ts';
import type { EspDeltaPatches } from './delta-patches.ts';
import type { UpdateDesk } from './desk.ts';
import { tokenCheckin } from './https-ota.ts';
import type { HttpIdentityRepo } from './identity.ts';
import { refuse, retryAfter, sendText } from './respond.ts';
import type { Route } from './routes.ts';
import type { ImageSender } from './send-image.ts';

export interface DeltaRouteDeps {
  log: Logger;
  devices: DeviceRepo;
  identity: HttpIdentityRepo;
  desk: UpdateDesk;
  sender: ImageSender;
  patches: EspDeltaPatches;
  buildRetrySeconds: () => number;
}

export class EspDeltaOtaRoute implements Route {
  readonly segment = 'delta';
  readonly param = 'required';
  readonly methods = ['GET', 'HEAD'];

  constructor(private readonly d: DeltaRouteDeps) {}

  handle(req: IncomingMessage, res: ServerResponse, url: URL, token: string | undefined): void {
    const got = tokenCheckin(this.d, req, res, url, token, 'esp_delta_ota');
    if (!got) return;
    const { device, answer } = got;
    if (!answer.running) return refuse(this.d.log, req, res, 409, `the image this device runs is not in the store, so there is no base for a patch; fetch the whole image from /ota/${token}`, { deviceId: device.id });
    const from = answer.running.sha256;
    const to = answer.release.sha256;
    const patch = this.d.patches.get(from, to);
    if (!patch) {
      this.d.patches.request(from, to);
      this.d.log.info({ deviceId: device.id, from: answer.running.version, to: answer.release.version }, 'esp_delta_ota patch being built; device told to come back');
      return sendText(res, 503, 'patch being built; try again', retryAfter(this.d.buildRetrySeconds()));
    }
    const rep = { blobId: patch.patchSha256, size: patch.size, releaseSha256: to, label: `${answer.running.version}→${answer.release.version} (esp_delta_ota)` };
    this.d.sender.send(req, res, device.id, rep, {}, (seconds, reason) => sendText(res, 503, reason, retryAfter(seconds)));
  }
}
