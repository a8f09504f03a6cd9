/** POST /c — check-in (PROTOCOL.md): who the device is, what it runs; answers nothing / later / update. */
import { encodeCbor, toBytes, toInt, toUint, uint, type CborMap } from '../../manifest/cbor.ts';
import { signManifest } from '../../manifest/delivery.ts';
import { readPatchDigests } from '../../manifest/patch-header.ts';
import type { CheckinFacts, PatchInfo } from '../../policy.ts';
import type { DeviceRow } from '../../store/devices.ts';
import { BAD_REQUEST, CONTENT, ContentFormat, FORBIDDEN, Opt, POST } from '../codes.ts';
import type { ResourceDeps } from '../deps.ts';
import { encodeUint } from '../message.ts';
import { bearerSzx, checkPostBody, requireMethod, requireNoRest } from '../respond.ts';
import { errorResponse, type CoapRequest, type CoapResponse, type Resource } from '../server.ts';

const RESULTS = new Set(['none', 'ok', 'failed', 'rolled_back']);

interface Checkin {
  product: string;
  running: string;
  slot: number;
  lastResult?: string;
  rsrp?: number;
  snr?: number;
  battery?: number;
  inProgress?: { patchId: string; offset: number };
  version?: string;
  /** Key 10; firmware that does not send it decodes format 1 only. */
  patchFormat: number;
}

/** Reads the check-in map; returns a message naming the bad key on error. */
export function parseCheckin(m: CborMap): Checkin | string {
  const product = m.get(1);
  if (typeof product !== 'string' || product.length === 0 || product.length > 64) return 'key 1 (product) must be a text string of 1..64 characters';
  const running = toBytes(m.get(2));
  if (!running || running.length !== 32) return 'key 2 (running image SHA-256) must be a 32-byte byte string';
  const slot = toUint(m.get(3));
  if (slot === undefined || slot > 1) return 'key 3 (boot slot) must be 0 or 1';
  const c: Checkin = { product, running: running.toString('hex'), slot, patchFormat: 1 };
  const last = m.get(4);
  if (last !== undefined) {
    if (typeof last !== 'string' || !RESULTS.has(last)) return `key 4 (last result) must be one of ${[...RESULTS].join(', ')}`;
    c.lastResult = last;
  }
  for (const [k, name, field] of [[5, 'RSRP', 'rsrp'], [6, 'SNR', 'snr']] as const) {
    const v = m.get(k);
    if (v === undefined) continue;
    const n = toInt(v);
    if (n === undefined || n < -200 || n > 100) return `key ${k} (${name}) must be an integer in -200..100`;
    c[field] = n;
  }
  const bat = m.get(7);
  if (bat !== undefined) {
    const n = toUint(bat);
    if (n === undefined || n > 100_000) return 'key 7 (battery mV) must be an unsigned integer up to 100000';
    c.battery = n;
  }
  const ip = m.get(8);
  if (ip !== undefined) {
    const pid = Array.isArray(ip) ? toBytes(ip[0]) : undefined;
    const off = Array.isArray(ip) ? toUint(ip[1]) : undefined;
    if (!Array.isArray(ip) || ip.length !== 2 || !pid || pid.length !== 32 || off === undefined) return 'key 8 (in-progress transfer) must be [patch_id bstr(32), offset uint]';
    c.inProgress = { patchId: pid.toString('hex'), offset: off };
  }
  const ver = m.get(9);
  if (ver !== undefined) {
    if (typeof ver !== 'string' || ver.length > 64) return 'key 9 (firmware version) must be a text string of at most 64 characters';
    c.version = ver;
  }
  const fmt = m.get(10);
  if (fmt !== undefined) {
    const n = toUint(fmt);
    if (n === undefined || n < 1 || n > 255) return 'key 10 (patch format) must be an unsigned integer in 1..255';
    c.patchFormat = n;
  }
  return c;
}

function reply(map: Map<number, unknown>): CoapResponse {
  return { code: CONTENT, options: [{ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) }], payload: encodeCbor(map) };
}

export class CheckinResource implements Resource {
  readonly path = ['c'];
  readonly linkAttrs = 'rt="furrow.checkin";ct=60';

  constructor(private readonly d: ResourceDeps) {}

  handle(req: CoapRequest): CoapResponse | undefined {
    const early = requireMethod(req, POST, 'POST') ?? requireNoRest(req) ?? checkPostBody(req, this.d.limits.maxRequestPayload);
    if (early) return early;
    const peer = `${req.peer.address}:${req.peer.port}`;
    const auth = this.d.auth.check('c', req.msg.payload);
    if (!auth.ok) {
      this.d.log.warn({ peer, deviceId: auth.deviceId, reason: auth.message }, 'check-in refused');
      const res = errorResponse(auth.code, auth.message);
      if (auth.lastCounter !== undefined) {
        res.options = [{ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) }];
        res.payload = encodeCbor(new Map([[1, uint(auth.lastCounter)]]));
      }
      return res;
    }
    const device = auth.device;
    const c = parseCheckin(auth.body);
    if (typeof c === 'string') {
      this.d.log.warn({ peer, deviceId: device.id, reason: c }, 'check-in refused: bad body');
      return errorResponse(BAD_REQUEST, c);
    }
    if (c.product !== device.product) {
      this.d.log.warn({ peer, deviceId: device.id, product: c.product, registered: device.product }, 'check-in refused: product differs from the registered one');
      return errorResponse(FORBIDDEN, `device ${device.id} is registered as product ${device.product}, not ${c.product}`);
    }
    const bearer = req.peer.bearer;
    this.d.devices.recordCheckin(
      device.id,
      {
        runningSha256: c.running,
        runningVersion: c.version ?? null,
        bootSlot: c.slot,
        lastResult: c.lastResult ?? null,
        rsrp: c.rsrp ?? null,
        snr: c.snr ?? null,
        battery: c.battery ?? null,
        bearer,
        patchFormat: c.patchFormat,
      },
      this.d.clock.now(),
    );
    this.d.events.emit('device.checkin', { deviceId: device.id, product: c.product, runningSha256: c.running, rsrp: c.rsrp, snr: c.snr, battery: c.battery });
    const facts: CheckinFacts = { deviceId: device.id, product: c.product, runningSha256: c.running, bearer, rsrp: c.rsrp, snr: c.snr, battery: c.battery, inProgress: c.inProgress, patchFormat: c.patchFormat };
    if (c.inProgress) this.d.transfers.reportOffset(device.id, c.inProgress.patchId, c.inProgress.offset);
    const decision = this.d.policy.decide(facts);
    if (decision.kind === 'none') return this.nothing(bearer);
    if (decision.kind === 'later') return reply(new Map<number, unknown>([[1, 1], [2, uint(Math.max(1, Math.ceil(decision.retryAfterSeconds)))]]));
    if (decision.releaseSha256 === c.running) return this.nothing(bearer);
    const patch = this.d.patches.get(c.running, decision.releaseSha256, c.patchFormat, decision.patchId ?? c.inProgress?.patchId);
    if (!patch) {
      this.d.patches.request(c.running, decision.releaseSha256, c.patchFormat);
      this.d.log.info({ deviceId: device.id, from: c.running.slice(0, 12), to: decision.releaseSha256.slice(0, 12) }, 'no patch yet; asked for a build, device comes back later');
      return reply(new Map<number, unknown>([[1, 1], [2, uint(this.d.limits.buildRetrySeconds)]]));
    }
    return this.offer(req, device, patch, decision.releaseSha256);
  }

  /** Decision 0; on a duty-cycled bearer with the next check-in time (key 2), so idle devices stay quiet. */
  private nothing(bearer: string): CoapResponse {
    const idle = this.d.radio?.idleCheckinSeconds(bearer);
    return reply(idle === undefined ? new Map([[1, 0]]) : new Map<number, unknown>([[1, 0], [2, uint(idle)]]));
  }

  private offer(req: CoapRequest, device: DeviceRow, patch: PatchInfo, releaseSha256: string): CoapResponse {
    const release = this.d.releases.get(releaseSha256);
    let delivery;
    try {
      if (!release) throw new Error(`release ${releaseSha256.slice(0, 12)} is not in the store`);
      delivery = this.d.deliveries.getOrCreate({ deviceId: device.id, patchId: patch.id, releaseSha256, size: patch.size }, this.d.clock.now(), (seq) => {
        const bytes = this.d.patchBytes.get(patch.id);
        const h = readPatchDigests(bytes, `patch ${patch.id.slice(0, 12)}`);
        if (h.resultSha256.toString('hex') !== releaseSha256) throw new Error(`patch ${patch.id.slice(0, 12)} produces ${h.resultSha256.toString('hex').slice(0, 12)}, not release ${releaseSha256.slice(0, 12)}`);
        return signManifest(
          {
            sequence: seq,
            product: device.product,
            deviceId: device.id,
            baseSha256: h.full ? undefined : h.baseSha256,
            patchSha256: Buffer.from(patch.id, 'hex'),
            patchSize: bytes.length,
            // the device refuses a format it cannot decode before downloading a byte of the patch
            patchFormat: h.formatVersion,
            chunkTableDigest: h.tableDigest,
            resultSha256: h.resultSha256,
            resultSize: h.resultSize,
            secureVersion: release.secureVersion,
            releaseStatement: release.signature ?? undefined,
            version: release.version,
          },
          this.d.gatewayKey.privateKey,
        );
      });
    } catch (err) {
      // A gateway-side defect (missing blob, damaged patch): the device must not see a broken offer.
      this.d.log.error({ deviceId: device.id, patchId: patch.id, err }, 'cannot prepare delivery; device told to come back later');
      return reply(new Map<number, unknown>([[1, 1], [2, uint(this.d.limits.buildRetrySeconds)]]));
    }
    this.d.transfers.begin(device.id, patch.id, patch.size, req.peer.bearer);
    const interval = this.d.radio?.blockIntervalMs(req.peer.bearer, patch.size);
    return reply(
      new Map<number, unknown>([
        [1, 2],
        [3, `m/${delivery.token}`],
        [4, `p/${delivery.token}`],
        [5, uint(patch.size)],
        [6, Buffer.from(patch.id, 'hex').subarray(0, 8)],
        [7, bearerSzx(req, this.d.limits.maxSzx)],
        [8, Buffer.from(patch.id, 'hex')],
        // Key 9 (PROTOCOL.md): on a duty cycle, the pace of block requests that fits the device's share.
        ...(interval === undefined ? [] : [[9, uint(interval)] as [number, unknown]]),
      ]),
    );
  }
}
