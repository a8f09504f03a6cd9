import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../../log.ts';
import { FurrowError } from '../../../errors.ts';
import { COAP_BLOCK_OVERHEAD } from '../../../schedule/bearer-model.ts';
import { timeOnAirMs } from '../airtime.ts';
import type { Uplink } from '../chirpstack/messages.ts';
import { maxPayload } from '../regional.ts';
import { codedFragment, fragment, parityCount, type FragmentPlan } from './fec-encoder.ts';
import { decodeRepairRequest } from './repair.ts';
import { forEachLimited, type FuotaMember, type FuotaResult, type FuotaResume, type FuotaSessionOptions, type MemberResult } from './session-types.ts';
import * as ts004 from './ts004.ts';
import * as ts005 from './ts005.ts';

export type { FuotaMember, FuotaResult, FuotaResume, FuotaSessionOptions, MemberResult, MemberState } from './session-types.ts';

/** A member as the session tracks it: answers seen and the queue items of its last requests. */
interface Member {
  m: FuotaMember;
  r: MemberResult;
  acks: Set<string>;
  outstanding: string[];
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
  private readonly members = new Map<string, Member>();
  private plan!: FragmentPlan;
  private readonly fragIndex: number;
  private readonly mcGroupId: number;
  private readonly result: FuotaResult;
  /** The reason the broadcast is held for now, so the log says it once per hold. */
  private heldFor: string | undefined;

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
    const resume = this.o.resume;
    const fragSize = resume?.fragSize ?? Math.min(255, maxPayload(slowest) - 3);
    this.plan = fragment(this.o.data, fragSize);
    const parity = resume?.parity ?? parityCount(this.plan.nbFrag, config.redundancy);
    Object.assign(this.result, { nbFrag: this.plan.nbFrag, fragSize, parity });
    this.log.info({ bytes: this.o.data.length, nbFrag: this.plan.nbFrag, fragSize, parity, members: this.members.size, dr: config.dr }, 'multicast session planned');

    transport.onPort(config.setupFPort, (u) => this.onSetupPort(u));
    transport.onPort(config.fragFPort, (u) => this.onFragPort(u));
    transport.onPort(config.repairFPort, (u) => void this.onRepair(u).catch((err: unknown) => this.log.error({ err, devEui: u.devEui }, 'repair failed')));
    let groupId: string | undefined;
    try {
      const mcKey = resume?.mcKey ?? randomBytes(16);
      const mcAddr = resume?.mcAddr ?? randomBytes(4).readUInt32LE(0);
      if (resume) this.restore(resume);
      groupId = resume?.groupId ?? (await this.createGroup(mcKey, mcAddr));
      this.o.onStarted?.({ mcKey, mcAddr, groupId, fragSize, parity, sent: resume?.sent ?? 0, members: new Map() });
      this.o.onPhase?.('setup');
      await this.syncClocks();
      await this.setup(mcKey, mcAddr);
      this.o.onPhase?.('broadcast');
      await this.broadcast(groupId, resume?.sent ?? 0);
      this.o.onPhase?.('status');
      await this.collectStatus();
      this.o.onPhase?.('repair');
      await this.waitRepairs();
      this.checkAbort();
    } finally {
      for (const p of [config.setupFPort, config.fragFPort, config.repairFPort]) transport.offPort(p);
      const keep = this.o.signal?.aborted && this.o.signal.reason === 'suspend';
      if (groupId && !keep) await this.o.api.deleteGroup(groupId).catch((err: unknown) => this.log.warn({ err, groupId }, 'could not delete the multicast group'));
    }
    for (const [eui, s] of this.members) {
      if (s.r.state !== 'complete') {
        s.r.reason ??= s.r.state === 'setup' ? 'never confirmed the multicast setup' : `still missing fragments after the repair deadline`;
        s.r.state = 'failed';
        this.o.onMember?.(eui, s.r);
      }
      this.result.members.set(eui, s.r);
    }
    return this.result;
  }

  /** A resumed member keeps what it already confirmed: no second setup, no second status poll. */
  private restore(resume: FuotaResume): void {
    for (const [eui, r] of resume.members) {
      const s = this.members.get(eui);
      if (!s) continue;
      s.r = { ...r };
      if (r.state !== 'setup') for (const a of ['group', 'frag', 'classC']) s.acks.add(a);
    }
  }

  private checkAbort(): void {
    const sig = this.o.signal;
    if (sig?.aborted) throw new FurrowError('lora.fuota_cancelled', `multicast session stopped: ${String(sig.reason)}`);
  }

  /**
   * TS003 before TS005: McClassCSessionReq names its start in GPS seconds, which a device with an
   * unknown clock would misread. Such members are asked to resync (ForceDeviceResyncReq) and given one
   * answer timeout per attempt; the setup goes on without those still unknown (they may start late).
   */
  private async syncClocks(): Promise<void> {
    const clock = this.o.clock;
    if (!clock) return;
    const unsynced = (): Array<{ m: FuotaMember }> => [...this.members.values()].filter((s) => s.r.state === 'setup' && !clock.isSynced(s.m.devEui));
    if (unsynced().length === 0) return;
    const off = clock.onSync(() => this.changed.emit('change'));
    try {
      for (let attempt = 1; attempt <= 2 && unsynced().length > 0; attempt++) {
        this.log.info({ attempt, unknownClocks: unsynced().length }, 'asking members with an unknown clock to resync (TS003)');
        await forEachLimited(unsynced(), 16, async (s) => {
          await clock.requestResync(s.m.devEui);
          this.result.unicast.frames++;
          this.result.unicast.frmBytes += 2;
          this.result.unicast.airtimeMs += timeOnAirMs(2, this.o.transport.device(s.m.devEui).dr, { direction: 'down' });
        });
        await this.waitUntil(() => unsynced().length === 0, this.o.answerTimeoutMs ?? 30_000);
        this.checkAbort();
      }
    } finally {
      off();
    }
    if (unsynced().length > 0) this.log.warn({ unknownClocks: unsynced().length }, 'members still without a synchronised clock; they may join the session late');
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
    await this.askUntilAnswered(
      (s) => s.r.state === 'setup',
      async (s) => {
        // Without the group, a Class C session answer is meaningless: resend it after the group.
        if (!s.acks.has('group')) s.acks.delete('classC');
        // In order per device: ChirpStack's queue is FIFO, so the group arrives before the session.
        for (const [what, port, frame] of reqs(s.m)) if (!s.acks.has(what)) s.outstanding.push(await this.unicast(s.m.devEui, port, frame));
      },
      deadline,
      'asking group members to set up the session',
    );
    const ready = [...this.members.values()].filter((s) => s.r.state === 'ready').length;
    this.log.info({ ready, members: this.members.size }, 'multicast setup answered');
  }

  private async broadcast(groupId: string, alreadySent: number): Promise<void> {
    const { config, gate, gateBearer } = this.o;
    if (![...this.members.values()].some((s) => s.r.state === 'ready')) return;
    const total = this.plan.nbFrag + this.result.parity;
    const scratch = new Uint8Array((this.plan.nbFrag + 7) >> 3);
    const started = this.o.now();
    let lastPct = -1;
    for (let n = alreadySent + 1; n <= total; n++) {
      this.checkAbort();
      const payload = n <= this.plan.nbFrag ? this.plan.uncoded[n - 1]! : codedFragment(this.plan, n - this.plan.nbFrag, scratch);
      const frame = ts004.encodeDataFragment({ fragIndex: this.fragIndex, n, payload });
      for (let held = this.o.hold?.(); held; held = this.o.hold?.()) {
        if (held.reason !== this.heldFor) this.log.info({ sent: n - 1, total, reason: held.reason }, 'multicast broadcast held');
        this.heldFor = held.reason;
        // Re-asked at least every minute, so a resume or an earlier window end is picked up soon.
        await this.o.sleep(Math.min(held.seconds, 60) * 1000);
        this.checkAbort();
      }
      if (this.heldFor) this.log.info({ sent: n - 1, total }, 'multicast broadcast resumes');
      this.heldFor = undefined;
      for (;;) {
        // The scheduler's admit() counts `bytes` as a Block2 payload and adds the CoAP header itself;
        // a DataFragment has no CoAP header, so that allowance is taken off here.
        const a = gate.admit(gateBearer, `mc:${groupId}`, Math.max(0, frame.length - COAP_BLOCK_OVERHEAD));
        if (a.ok) break;
        if (a.retryAfterSeconds >= 3600) {
          throw new FurrowError('lora.fuota_refused', `the scheduler refuses multicast fragment ${n} on ${gateBearer}: ${a.reason}`, { hint: `check schedule.bearers.${gateBearer} against lora.multicast.dr` });
        }
        await this.o.sleep(a.retryAfterSeconds * 1000);
        this.checkAbort();
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
    await this.askUntilAnswered(
      (s) => s.r.state === 'ready' && s.r.missingAfterMulticast === undefined,
      async (s) => void s.outstanding.push(await this.unicast(s.m.devEui, this.o.config.fragFPort, req)),
      this.o.now() + this.o.config.setupTimeoutSeconds * 1000,
      'asking members for their fragmentation status',
    );
  }

  /**
   * Sends `ask` to every member `waiting` holds for, again after each answer timeout, up to maxAttempts
   * times each. A member whose previous requests are still queued at the network server (a Class A
   * device gets them one per uplink) is not asked again yet: that would only queue duplicates.
   */
  private async askUntilAnswered(waiting: (s: Member) => boolean, ask: (s: Member) => Promise<void>, deadline: number, what: string): Promise<void> {
    const max = this.o.maxAttempts ?? 5;
    const tries = new Map<Member, number>();
    const queued = (s: Member): boolean => s.outstanding.some((id) => this.o.transport.isPending(id));
    for (;;) {
      const open = [...this.members.values()].filter(waiting);
      if (open.length === 0 || this.o.now() >= deadline) return;
      const todo = open.filter((s) => (tries.get(s) ?? 0) < max && !queued(s));
      if (todo.length === 0 && !open.some(queued)) return;
      if (todo.length > 0) this.log.info({ asking: todo.length, waiting: open.length }, what);
      await forEachLimited(todo, 16, async (s) => {
        tries.set(s, (tries.get(s) ?? 0) + 1);
        s.outstanding = [];
        await ask(s);
      });
      await this.waitUntil(() => ![...this.members.values()].some(waiting), this.o.answerTimeoutMs ?? 30_000);
      this.checkAbort();
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
      this.checkAbort();
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
        if (!done() && !this.o.signal?.aborted) return;
        clearTimeout(t);
        this.changed.off('change', check);
        this.o.signal?.removeEventListener('abort', check);
        resolve();
      };
      const t = setTimeout(() => {
        this.changed.off('change', check);
        this.o.signal?.removeEventListener('abort', check);
        resolve();
      }, timeoutMs);
      this.changed.on('change', check);
      this.o.signal?.addEventListener('abort', check);
    });
  }

  private member(u: Uplink): Member | undefined {
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
    this.o.onMember?.(u.devEui, s.r);
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
    this.o.onMember?.(u.devEui, s.r);
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
    // Its status answer may have been lost: what it names here is what it missed after the multicast.
    s.r.missingAfterMulticast ??= req.fragments.filter((n) => n <= this.plan.nbFrag).length;
    for (const n of req.fragments) {
      if (n > this.plan.nbFrag) continue;
      const frame = ts004.encodeDataFragment({ fragIndex: this.fragIndex, n, payload: this.plan.uncoded[n - 1]! });
      s.outstanding.push(await this.unicast(s.m.devEui, this.o.config.fragFPort, frame));
      s.r.repairFragments++;
    }
    this.o.onMember?.(u.devEui, s.r);
  }
}
