import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../../log.ts';
import type { TransmitGate } from '../../../policy.ts';
import { FurrowError } from '../../../errors.ts';
import { COAP_BLOCK_OVERHEAD } from '../../../schedule/bearer-model.ts';
import { timeOnAirMs } from '../airtime.ts';
import type { MulticastApi } from '../chirpstack/multicast-api.ts';
import type { Uplink } from '../chirpstack/messages.ts';
import type { LoraConfig } from '../config.ts';
import { maxPayload } from '../regional.ts';
import type { LoraTransport } from '../transport.ts';
import { codedFragment, fragment, parityCount, type FragmentPlan } from './fec-encoder.ts';
import { decodeRepairRequest } from './repair.ts';
import * as ts004 from './ts004.ts';
import * as ts005 from './ts005.ts';

export interface FuotaMember {
  devEui: string;
  /** LoRaWAN 1.0.x GenAppKey of the device; wraps the multicast key (TS005 §3.3). */
  genAppKey: Buffer;
}

export interface FuotaSessionOptions {
  transport: LoraTransport;
  api: MulticastApi;
  /** The scheduler's gate; every fragment is admitted on `gateBearer` before it is queued. */
  gate: TransmitGate;
  gateBearer: string;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  log: Logger;
  applicationId: string;
  config: LoraConfig['multicast'];
  members: FuotaMember[];
  data: Buffer;
  fragIndex?: number;
  mcGroupId?: number;
  /** Wait for setup/status answers this long before asking again (devices answer after their next uplink). */
  answerTimeoutMs?: number;
  maxAttempts?: number;
  /** After the multicast, how long devices get to fetch their missing fragments by unicast. */
  repairDeadlineMs?: number;
  onProgress?: (sent: number, total: number) => void;
}

/** Runs `fn` over `items` with at most `limit` in flight (each device's queue stays in order). */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export type MemberState = 'setup' | 'ready' | 'complete' | 'failed';

export interface MemberResult {
  state: MemberState;
  reason?: string;
  missingAfterMulticast?: number;
  repairFragments: number;
}

export interface FuotaResult {
  nbFrag: number;
  fragSize: number;
  parity: number;
  members: Map<string, MemberResult>;
  /** One multicast transmission reaches every member: counted once. */
  multicast: { frames: number; frmBytes: number; airtimeMs: number };
  /** Setup, status and repair frames to single devices. */
  unicast: { frames: number; frmBytes: number; airtimeMs: number };
}

/**
 * One FUOTA multicast session (TS005 group + Class C session, TS004 fragmentation with FEC):
 * set up every member by unicast (retrying unanswered requests), send all fragments to the group paced
 * by the scheduler's duty-cycle gate, ask each member for its status, and resend by unicast exactly
 * the fragments a member still needs. A member that never answers the setup is reported `failed` so
 * the rollout falls back to a plain unicast download for it.
 */
export class FuotaSession {
  private readonly log: Logger;
  private readonly changed = new EventEmitter();
  private readonly members = new Map<string, { m: FuotaMember; r: MemberResult; acks: Set<string>; outstanding: string[] }>();
  private plan!: FragmentPlan;
  private readonly fragIndex: number;
  private readonly mcGroupId: number;
  private readonly result: FuotaResult;

  constructor(private readonly o: FuotaSessionOptions) {
    this.log = o.log.child({ module: 'lora.fuota' });
    this.fragIndex = o.fragIndex ?? 0;
    this.mcGroupId = o.mcGroupId ?? 0;
    for (const m of o.members) this.members.set(m.devEui.toLowerCase(), { m, r: { state: 'setup', repairFragments: 0 }, acks: new Set(), outstanding: [] });
    this.result = { nbFrag: 0, fragSize: 0, parity: 0, members: new Map(), multicast: { frames: 0, frmBytes: 0, airtimeMs: 0 }, unicast: { frames: 0, frmBytes: 0, airtimeMs: 0 } };
  }

  async run(): Promise<FuotaResult> {
    const { transport, config } = this.o;
    if (this.members.size === 0) throw new FurrowError('lora.fuota_empty', 'a multicast session needs at least one member');
    // Fragments must also fit a unicast repair to the slowest member, so size them for that DR.
    const slowest = Math.min(config.dr, ...[...this.members.keys()].map((e) => transport.device(e).dr));
    const fragSize = Math.min(255, maxPayload(slowest) - 3);
    this.plan = fragment(this.o.data, fragSize);
    const parity = parityCount(this.plan.nbFrag, config.redundancy);
    Object.assign(this.result, { nbFrag: this.plan.nbFrag, fragSize, parity });
    this.log.info({ bytes: this.o.data.length, nbFrag: this.plan.nbFrag, fragSize, parity, members: this.members.size, dr: config.dr }, 'multicast session planned');

    transport.onPort(config.setupFPort, (u) => this.onSetupPort(u));
    transport.onPort(config.fragFPort, (u) => this.onFragPort(u));
    transport.onPort(config.repairFPort, (u) => void this.onRepair(u).catch((err: unknown) => this.log.error({ err, devEui: u.devEui }, 'repair failed')));
    let groupId: string | undefined;
    try {
      const mcKey = randomBytes(16);
      const mcAddr = randomBytes(4).readUInt32LE(0);
      groupId = await this.createGroup(mcKey, mcAddr);
      await this.setup(mcKey, mcAddr);
      await this.broadcast(groupId);
      await this.collectStatus();
      await this.waitRepairs();
    } finally {
      for (const p of [config.setupFPort, config.fragFPort, config.repairFPort]) transport.offPort(p);
      if (groupId) await this.o.api.deleteGroup(groupId).catch((err: unknown) => this.log.warn({ err, groupId }, 'could not delete the multicast group'));
    }
    for (const [eui, s] of this.members) {
      if (s.r.state !== 'complete') {
        s.r.reason ??= s.r.state === 'setup' ? 'never confirmed the multicast setup' : `still missing fragments after the repair deadline`;
        s.r.state = 'failed';
      }
      this.result.members.set(eui, s.r);
    }
    return this.result;
  }

  private async createGroup(mcKey: Buffer, mcAddr: number): Promise<string> {
    const keys = ts005.deriveMcSessionKeys(mcKey, mcAddr);
    const id = await this.o.api.createGroup({
      name: `furrow-${createHash('sha256').update(this.o.data).digest('hex').slice(0, 12)}`,
      applicationId: this.o.applicationId,
      mcAddr: mcAddr.toString(16).padStart(8, '0'),
      mcNwkSKey: keys.mcNwkSKey.toString('hex'),
      mcAppSKey: keys.mcAppSKey.toString('hex'),
      dr: this.o.config.dr,
      frequency: this.o.config.frequencyHz,
    });
    for (const eui of this.members.keys()) await this.o.api.addDevice(id, eui);
    return id;
  }

  private async unicast(devEui: string, fPort: number, frame: Buffer): Promise<string> {
    const id = await this.o.transport.sendRaw(devEui, fPort, frame);
    const u = this.result.unicast;
    u.frames++;
    u.frmBytes += frame.length;
    u.airtimeMs += timeOnAirMs(frame.length, this.o.transport.device(devEui).dr, { direction: 'down' });
    return id;
  }

  private async setup(mcKey: Buffer, mcAddr: number): Promise<void> {
    const { config } = this.o;
    const totalFrames = this.plan.nbFrag + this.result.parity;
    const airMs = totalFrames * timeOnAirMs(this.plan.fragSize + 3, config.dr, { direction: 'down' });
    const expectedS = (airMs / 1000) * 10 + 60;
    const timeOut = Math.min(15, Math.ceil(Math.log2(expectedS)));
    const descriptor = createHash('sha256').update(this.o.data).digest().subarray(0, 4);
    const reqs = (m: FuotaMember): Array<[string, number, Buffer]> => [
      ['group', config.setupFPort, ts005.encodeMcGroupSetupReq({ mcGroupId: this.mcGroupId, mcAddr, mcKeyEncrypted: ts005.encryptMcKey(m.genAppKey, mcKey), minMcFCount: 0, maxMcFCount: 0xffffffff })],
      ['frag', config.fragFPort, ts004.encodeFragSessionSetupReq({ fragIndex: this.fragIndex, mcGroupBitMask: 1 << this.mcGroupId, nbFrag: this.plan.nbFrag, fragSize: this.plan.fragSize, fragmentationMatrix: 0, blockAckDelay: 0, padding: this.plan.padding, descriptor })],
      ['classC', config.setupFPort, ts005.encodeMcClassCSessionReq({ mcGroupId: this.mcGroupId, sessionTime: ts005.unixToGpsSeconds(this.o.now() + 2000), timeOut, frequencyHz: config.frequencyHz, dr: config.dr })],
    ];
    const deadline = this.o.now() + config.setupTimeoutSeconds * 1000;
    for (let attempt = 1; attempt <= (this.o.maxAttempts ?? 5) && this.o.now() < deadline; attempt++) {
      const todo = [...this.members.values()].filter((s) => s.r.state === 'setup');
      if (todo.length === 0) break;
      this.log.info({ attempt, waiting: todo.length }, 'asking group members to set up the session');
      await forEachLimited(todo, 16, async (s) => {
        // Without the group, a Class C session answer is meaningless: resend it after the group.
        if (!s.acks.has('group')) s.acks.delete('classC');
        // In order per device: ChirpStack's queue is FIFO, so the group arrives before the session.
        for (const [what, port, frame] of reqs(s.m)) if (!s.acks.has(what)) await this.unicast(s.m.devEui, port, frame);
      });
      await this.waitUntil(() => [...this.members.values()].every((s) => s.r.state !== 'setup'), this.o.answerTimeoutMs ?? 30_000);
    }
    const ready = [...this.members.values()].filter((s) => s.r.state === 'ready').length;
    this.log.info({ ready, members: this.members.size }, 'multicast setup answered');
  }

  private async broadcast(groupId: string): Promise<void> {
    const { config, gate, gateBearer } = this.o;
    if (![...this.members.values()].some((s) => s.r.state === 'ready')) return;
    const total = this.plan.nbFrag + this.result.parity;
    const scratch = new Uint8Array((this.plan.nbFrag + 7) >> 3);
    const started = this.o.now();
    let lastPct = -1;
    for (let n = 1; n <= total; n++) {
      const payload = n <= this.plan.nbFrag ? this.plan.uncoded[n - 1]! : codedFragment(this.plan, n - this.plan.nbFrag, scratch);
      const frame = ts004.encodeDataFragment({ fragIndex: this.fragIndex, n, payload });
      for (;;) {
        // The scheduler's admit() counts `bytes` as a Block2 payload and adds the CoAP header itself;
        // a DataFragment has no CoAP header, so that allowance is taken off here.
        const a = gate.admit(gateBearer, `mc:${groupId}`, Math.max(0, frame.length - COAP_BLOCK_OVERHEAD));
        if (a.ok) break;
        if (a.retryAfterSeconds >= 3600) {
          throw new FurrowError('lora.fuota_refused', `the scheduler refuses multicast fragment ${n} on ${gateBearer}: ${a.reason}`, { hint: `check schedule.bearers.${gateBearer} against lora.multicast.dr` });
        }
        await this.o.sleep(a.retryAfterSeconds * 1000);
      }
      await this.o.api.enqueue(groupId, config.fragFPort, frame);
      const mc = this.result.multicast;
      mc.frames++;
      mc.frmBytes += frame.length;
      mc.airtimeMs += timeOnAirMs(frame.length, config.dr, { direction: 'down' });
      this.o.onProgress?.(n, total);
      const pct = Math.floor((n / total) * 10) * 10;
      if (pct !== lastPct) {
        lastPct = pct;
        const elapsed = this.o.now() - started;
        this.log.info({ sent: n, total, percent: pct, etaSeconds: Math.round(((total - n) * elapsed) / n / 1000) }, 'multicast fragments');
      }
    }
  }

  private async collectStatus(): Promise<void> {
    const req = ts004.encodeFragSessionStatusReq(this.fragIndex, false);
    for (let attempt = 1; attempt <= (this.o.maxAttempts ?? 5); attempt++) {
      const todo = [...this.members.values()].filter((s) => s.r.state === 'ready' && s.r.missingAfterMulticast === undefined);
      if (todo.length === 0) return;
      await forEachLimited(todo, 16, (s) => this.unicast(s.m.devEui, this.o.config.fragFPort, req).then(() => undefined));
      await this.waitUntil(() => [...this.members.values()].every((s) => s.r.state !== 'ready' || s.r.missingAfterMulticast !== undefined), this.o.answerTimeoutMs ?? 30_000);
    }
  }

  /**
   * Devices fetch their repairs on their own; a device whose last word was lost (its final status
   * uplink, say) is asked again once nothing is queued for it any more.
   */
  private async waitRepairs(): Promise<void> {
    const deadline = this.o.now() + (this.o.repairDeadlineMs ?? 3_600_000);
    const allDone = (): boolean => [...this.members.values()].every((s) => s.r.state !== 'ready');
    const req = ts004.encodeFragSessionStatusReq(this.fragIndex, false);
    while (!allDone() && this.o.now() < deadline) {
      await this.waitUntil(allDone, Math.min(2 * (this.o.answerTimeoutMs ?? 30_000), Math.max(0, deadline - this.o.now())));
      if (allDone()) return;
      const quiet = [...this.members.values()].filter((s) => s.r.state === 'ready' && s.outstanding.every((id) => !this.o.transport.isPending(id)));
      await forEachLimited(quiet, 16, async (s) => {
        s.outstanding = [await this.unicast(s.m.devEui, this.o.config.fragFPort, req)];
      });
    }
  }

  private waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(t);
        this.changed.off('change', check);
        resolve();
      };
      const t = setTimeout(() => {
        this.changed.off('change', check);
        resolve();
      }, timeoutMs);
      this.changed.on('change', check);
    });
  }

  private member(u: Uplink): { m: FuotaMember; r: MemberResult; acks: Set<string>; outstanding: string[] } | undefined {
    const s = this.members.get(u.devEui);
    if (!s) this.log.debug({ devEui: u.devEui, fPort: u.fPort }, 'FUOTA answer from a device outside the session');
    return s;
  }

  private markAck(s: { r: MemberResult; acks: Set<string> }, what: string): void {
    s.acks.add(what);
    if (s.r.state === 'setup' && s.acks.has('group') && s.acks.has('frag') && s.acks.has('classC')) s.r.state = 'ready';
  }

  private fail(s: { r: MemberResult }, reason: string): void {
    s.r.state = 'failed';
    s.r.reason = reason;
  }

  private onSetupPort(u: Uplink): void {
    const s = this.member(u);
    if (!s || u.data.length === 0) return;
    try {
      if (u.data[0] === ts005.Ts005Cid.McGroupSetup) {
        const a = ts005.decodeMcGroupSetupAns(u.data);
        if (a.idError) this.fail(s, `refused multicast group ${a.mcGroupId} (IDerror)`);
        else this.markAck(s, 'group');
      } else if (u.data[0] === ts005.Ts005Cid.McClassCSession) {
        const a = ts005.decodeMcClassCSessionAns(u.data);
        // The group setup was lost and the session request overtook it: ask for both again.
        if (a.mcGroupUndefined && !a.drError && !a.freqError) s.acks.delete('group');
        else if (a.drError || a.freqError || a.mcGroupUndefined) this.fail(s, `refused the Class C session (${a.drError ? 'DR ' : ''}${a.freqError ? 'frequency ' : ''}${a.mcGroupUndefined ? 'group undefined' : ''})`.trim());
        else this.markAck(s, 'classC');
      }
    } catch (err) {
      this.log.warn({ devEui: u.devEui, problem: (err as Error).message }, 'bad TS005 answer');
    }
    this.changed.emit('change');
  }

  private onFragPort(u: Uplink): void {
    const s = this.member(u);
    if (!s || u.data.length === 0) return;
    try {
      if (u.data[0] === ts004.Ts004Cid.FragSessionSetup) {
        const a = ts004.decodeFragSessionSetupAns(u.data);
        if (a.encodingUnsupported || a.notEnoughMemory || a.fragSessionIndexNotSupported || a.wrongDescriptor) {
          this.fail(s, `refused the fragmentation session (${a.notEnoughMemory ? 'not enough memory' : a.encodingUnsupported ? 'encoding unsupported' : a.wrongDescriptor ? 'wrong descriptor' : 'index not supported'})`);
        } else this.markAck(s, 'frag');
      } else if (u.data[0] === ts004.Ts004Cid.FragSessionStatus) {
        const a = ts004.decodeFragSessionStatusAns(u.data);
        if (s.r.state !== 'ready' && s.r.state !== 'complete') return;
        s.r.missingAfterMulticast ??= a.missingFrag;
        if (a.missingFrag === 0 && a.nbFragReceived >= this.plan.nbFrag) s.r.state = 'complete';
      }
    } catch (err) {
      this.log.warn({ devEui: u.devEui, problem: (err as Error).message }, 'bad TS004 answer');
    }
    this.changed.emit('change');
  }

  /** Resends exactly the fragments a device names, once its previous repair batch has left. */
  private async onRepair(u: Uplink): Promise<void> {
    const s = this.member(u);
    if (!s || s.r.state !== 'ready' || !this.plan) return;
    s.outstanding = s.outstanding.filter((id) => this.o.transport.isPending(id));
    if (s.outstanding.length > 0) return;
    let req;
    try {
      req = decodeRepairRequest(u.data);
    } catch (err) {
      this.log.warn({ devEui: u.devEui, problem: (err as Error).message }, 'bad repair request');
      return;
    }
    for (const n of req.fragments) {
      if (n > this.plan.nbFrag) continue;
      const frame = ts004.encodeDataFragment({ fragIndex: this.fragIndex, n, payload: this.plan.uncoded[n - 1]! });
      s.outstanding.push(await this.unicast(s.m.devEui, this.o.config.fragFPort, frame));
      s.r.repairFragments++;
    }
  }
}
