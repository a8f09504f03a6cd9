/**
 * A furrow LoRa device as the emulator plays it: the CoAP client the firmware runs over SCHC (Block2
 * download with retransmission) and the FUOTA agent (TS005 group + Class C session, TS004 with the
 * on-device FEC decoder writing into emulated flash, furrow repair requests for what FEC could not fix).
 */
import { generate, parse } from 'coap-packet';
import { encodeEnvelope } from '../../src/coap/auth.ts';
import { decodeCbor } from '../../src/manifest/cbor.ts';
import { encodeRepairRequest } from '../../src/bearer/lora/fuota/repair.ts';
import { BufferFlash, FecDecoder } from '../../src/bearer/lora/fuota/fec-decoder.ts';
import * as ts004 from '../../src/bearer/lora/fuota/ts004.ts';
import * as ts005 from '../../src/bearer/lora/fuota/ts005.ts';
import { blockSzxForDr, maxPayload } from '../../src/bearer/lora/regional.ts';
import { SchcCompressor } from '../../src/bearer/lora/schc/compressor.ts';
import { FURROW_RULES, MAX_BLOCK_OVERHEAD } from '../../src/bearer/lora/schc/rules.ts';
import type { ChirpStackEmulator, DeviceApp } from './chirpstack-emulator.ts';

export interface DevicePorts {
  fPortBase: number;
  fragFPort: number;
  setupFPort: number;
  repairFPort: number;
}

export interface DeviceOptions {
  dr: number;
  deviceClass?: 'A' | 'C';
  genAppKey?: Buffer;
  ports: DevicePorts;
  maxLost?: number;
  /** Class A devices uplink this often when idle, which is when queued downlinks reach them. */
  heartbeatMs?: number;
  coapTimeoutMs?: number;
  repairIntervalMs?: number;
  lossDown?: number;
  lossUp?: number;
}

interface Waiter {
  token: string;
  resolve: (r: ReturnType<typeof parse>) => void;
}

function blockValue(num: number, more: boolean, szx: number): Buffer {
  const v = (num << 4) | (more ? 8 : 0) | szx;
  if (v === 0) return Buffer.alloc(0);
  const len = v < 0x100 ? 1 : v < 0x10000 ? 2 : 3;
  const b = Buffer.alloc(len);
  b.writeUIntBE(v, 0, len);
  return b;
}

function uintOf(b: Buffer | undefined): number {
  return b && b.length > 0 ? b.readUIntBE(0, b.length) : 0;
}

export class FurrowLoraDevice implements DeviceApp {
  private readonly schc = new SchcCompressor();
  private readonly ruleIds = new Set([0, ...FURROW_RULES.map((r) => r.id)]);
  private mid = Math.floor(Math.random() * 0xffff);
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private repairTimer: NodeJS.Timeout | undefined;
  private lastUplink = 0;
  private listening = false;
  private group: { id: number; addr: number; key: Buffer } | undefined;
  private session: ts004.FragSessionSetupReq | undefined;
  decoder: FecDecoder | undefined;
  private flash: BufferFlash | undefined;
  private statusAsked = false;
  private counter = 0;
  stats = { coapRequests: 0, coapRetransmissions: 0, repairRequests: 0, fragmentsHeard: 0 };

  constructor(
    private readonly emu: ChirpStackEmulator,
    readonly devEui: string,
    private readonly o: DeviceOptions,
  ) {
    emu.addDevice(devEui, { dr: o.dr, deviceClass: o.deviceClass ?? 'A', app: this, ...(o.lossDown !== undefined ? { lossDown: o.lossDown } : {}), ...(o.lossUp !== undefined ? { lossUp: o.lossUp } : {}) });
  }

  start(): void {
    const every = this.o.heartbeatMs ?? 100;
    this.timer = setInterval(() => {
      // In a Class C session the receiver is open anyway; no need to uplink to be reachable.
      if (!this.listening && Date.now() - this.lastUplink >= every) void this.uplink(2, Buffer.from([1]));
    }, every);
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.repairTimer);
  }

  private async uplink(fPort: number, data: Buffer): Promise<void> {
    this.lastUplink = Date.now();
    await this.emu.uplink(this.devEui, fPort, data);
  }

  listensToMulticast(): boolean {
    return this.listening;
  }

  inClassC(): boolean {
    return this.listening;
  }

  onDownlink(fPort: number, data: Buffer, ctx: { fPending: boolean; multicast: boolean }): void {
    const p = this.o.ports;
    const rule = fPort - p.fPortBase;
    if (!ctx.multicast && this.ruleIds.has(rule)) this.onCoap(rule, data);
    else if (fPort === p.setupFPort && !ctx.multicast) this.onTs005(data);
    else if (fPort === p.fragFPort) this.onTs004(data);
    // LoRaWAN FPending: the network holds more for us; a Class A device uplinks to fetch it.
    if (ctx.fPending) setImmediate(() => void this.uplink(2, Buffer.from([1])));
  }

  // ---- CoAP client (what the firmware's libcoap does, over SCHC) ----

  private onCoap(ruleId: number, data: Buffer): void {
    let msg;
    try {
      msg = parse(this.schc.decompress({ ruleId, data }, 'down'));
    } catch {
      return;
    }
    const tok = msg.token.toString('hex');
    const w = this.waiters.find((x) => x.token === tok);
    if (msg.confirmable) void this.sendCoap(generate({ messageId: msg.messageId, ack: true, code: '0.00', token: Buffer.alloc(0) }));
    if (!w || (msg.code === '0.00' && msg.ack)) return;
    this.waiters = this.waiters.filter((x) => x !== w);
    w.resolve(msg);
  }

  private async sendCoap(coap: Buffer): Promise<void> {
    const c = this.schc.compress(coap, 'up');
    await this.uplink(this.o.ports.fPortBase + c.ruleId, c.data);
  }

  /** One confirmable request, retransmitted until answered (RFC 7252 §4.2, fixed timeout here). */
  async request(opts: Parameters<typeof generate>[0], maxTries = 20): Promise<ReturnType<typeof parse>> {
    const token = Buffer.from([Math.floor(Math.random() * 256), Math.floor(Math.random() * 256)]);
    this.mid = (this.mid + 1) & 0xffff;
    const coap = generate({ ...opts, token, messageId: this.mid, confirmable: true });
    this.stats.coapRequests++;
    const answer = new Promise<ReturnType<typeof parse>>((resolve) => this.waiters.push({ token: token.toString('hex'), resolve }));
    for (let attempt = 0; attempt < maxTries; attempt++) {
      if (attempt > 0) this.stats.coapRetransmissions++;
      await this.sendCoap(coap);
      const r = await Promise.race([answer, new Promise<undefined>((res) => setTimeout(() => res(undefined), this.o.coapTimeoutMs ?? 250))]);
      if (r) return r;
    }
    throw new Error(`device ${this.devEui}: no answer to ${opts.code} after ${maxTries} tries`);
  }

  /** POST /c with the MAC'd envelope (PROTOCOL.md); returns the decoded answer map. */
  async checkin(id: string, key: Buffer, product: string, runningSha256: string): Promise<{ code: string; map: Map<number, unknown>; payloadBytes: number }> {
    this.counter++;
    const body = new Map<number, unknown>([[1, product], [2, Buffer.from(runningSha256, 'hex')], [3, 0]]);
    const r = await this.request({ code: 'POST', options: [{ name: 'Uri-Path', value: Buffer.from('c') }, { name: 'Content-Format', value: Buffer.from([60]) }], payload: encodeEnvelope(key, 'c', id, this.counter, body) });
    return { code: r.code, map: r.code === '2.05' ? (decodeCbor(r.payload) as Map<number, unknown>) : new Map(), payloadBytes: r.payload.length };
  }

  /**
   * POST /c block-wise (PROTOCOL.md "Small frames"): the envelope in Block1 blocks of 2^(szx+4) bytes,
   * then the answer's Block2 blocks by POSTs carrying only Block2. `extra` adds body keys (4, 8, 9...)
   * so the request is as large as the firmware's.
   */
  async checkinBlockwise(id: string, key: Buffer, product: string, runningSha256: string, szx: number, extra: Array<[number, unknown]> = []): Promise<{ code: string; map: Map<number, unknown>; payloadBytes: number; blocksUp: number; blocksDown: number }> {
    this.counter++;
    const body = new Map<number, unknown>([[1, product], [2, Buffer.from(runningSha256, 'hex')], [3, 0], ...extra]);
    const env = encodeEnvelope(key, 'c', id, this.counter, body);
    const size = 16 << szx;
    const path = { name: 'Uri-Path' as const, value: Buffer.from('c') };
    let r: ReturnType<typeof parse> | undefined;
    let blocksUp = 0;
    for (let num = 0; num * size < env.length; num++) {
      const more = (num + 1) * size < env.length;
      r = await this.request({ code: 'POST', options: [path, { name: 'Content-Format', value: Buffer.from([60]) }, { name: 'Block1', value: blockValue(num, more, szx) }], payload: env.subarray(num * size, (num + 1) * size) });
      blocksUp++;
      if (more && r.code !== '2.31') throw new Error(`device ${this.devEui}: Block1 ${num} answered ${r.code}: ${r.payload.toString()}`);
    }
    const parts = [r!.payload];
    let blocksDown = 1;
    for (let b = uintOf(r!.options.find((o) => o.name === 'Block2')?.value); b & 8; blocksDown++) {
      const num = (b >> 4) + 1;
      const next = await this.request({ code: 'POST', options: [path, { name: 'Block2', value: blockValue(num, false, b & 7) }] });
      if (next.code !== r!.code) throw new Error(`device ${this.devEui}: answer block ${num} came back ${next.code}: ${next.payload.toString()}`);
      b = uintOf(next.options.find((o) => o.name === 'Block2')?.value);
      if (b >> 4 !== num) throw new Error(`device ${this.devEui}: asked for answer block ${num}, got ${b >> 4}`);
      parts.push(next.payload);
    }
    const payload = Buffer.concat(parts);
    return { code: r!.code, map: r!.code === '2.05' ? (decodeCbor(payload) as Map<number, unknown>) : new Map(), payloadBytes: payload.length, blocksUp, blocksDown };
  }

  /** Block2 download of `path` with the block size the device's data rate allows. */
  async download(path: string[], fromOffset = 0): Promise<{ data: Buffer; blocks: number; szx: number }> {
    const szx = blockSzxForDr(this.o.dr, MAX_BLOCK_OVERHEAD);
    const parts: Buffer[] = [];
    let etag: string | undefined;
    // Resume: start at the block holding `fromOffset` (PROTOCOL.md: block = offset / block size).
    const first = Math.floor(fromOffset / (16 << szx));
    let num = first;
    for (;;) {
      const options: Array<{ name: 'Uri-Path' | 'Block2' | 'Size2'; value: Buffer }> = [
        ...path.map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) })),
        { name: 'Block2', value: blockValue(num, false, szx) },
      ];
      if (num === first) options.push({ name: 'Size2', value: Buffer.alloc(0) });
      const r = await this.request({ code: 'GET', options });
      if (r.code === '5.03') {
        const maxAge = uintOf(r.options.find((o) => o.name === 'Max-Age')?.value);
        await new Promise((res) => setTimeout(res, Math.min(maxAge * 1000, 200)));
        continue;
      }
      if (r.code !== '2.05') throw new Error(`device ${this.devEui}: GET block ${num} answered ${r.code}: ${r.payload.toString()}`);
      const tag = r.options.find((o) => o.name === 'ETag')?.value.toString('hex');
      if (etag !== undefined && tag !== etag) throw new Error(`device ${this.devEui}: ETag changed mid-download (${etag} → ${tag})`);
      etag = tag;
      const b = uintOf(r.options.find((o) => o.name === 'Block2')?.value);
      if (b >> 4 !== num) throw new Error(`device ${this.devEui}: asked for block ${num}, got ${b >> 4}`);
      parts.push(r.payload);
      num++;
      if (!(b & 8)) break;
    }
    return { data: Buffer.concat(parts), blocks: num - first, szx };
  }

  // ---- FUOTA agent ----

  private onTs005(data: Buffer): void {
    const cid = data[0];
    if (cid === ts005.Ts005Cid.McGroupSetup) {
      const r = ts005.decodeMcGroupSetupReq(data);
      this.group = { id: r.mcGroupId, addr: r.mcAddr, key: ts005.decryptMcKey(this.o.genAppKey ?? Buffer.alloc(16), r.mcKeyEncrypted) };
      void this.uplink(this.o.ports.setupFPort, ts005.encodeMcGroupSetupAns(r.mcGroupId, false));
    } else if (cid === ts005.Ts005Cid.McClassCSession) {
      const r = ts005.decodeMcClassCSessionReq(data);
      const undefinedGroup = !this.group || this.group.id !== r.mcGroupId;
      const drError = r.dr > 7;
      if (!undefinedGroup && !drError) this.listening = true;
      const timeToStart = Math.max(0, r.sessionTime - ts005.unixToGpsSeconds(Date.now()));
      void this.uplink(this.o.ports.setupFPort, ts005.encodeMcClassCSessionAns({ mcGroupId: r.mcGroupId, drError, freqError: false, mcGroupUndefined: undefinedGroup, timeToStart }));
    }
  }

  private onTs004(data: Buffer): void {
    const cid = data[0];
    const port = this.o.ports.fragFPort;
    if (cid === ts004.Ts004Cid.FragSessionSetup) {
      const r = ts004.decodeFragSessionSetupReq(data);
      const unsupported = r.fragmentationMatrix !== 0;
      if (!unsupported && !(this.session && this.session.fragIndex === r.fragIndex && this.decoder)) {
        this.session = r;
        this.flash = new BufferFlash(r.nbFrag, r.fragSize);
        this.decoder = new FecDecoder(r.nbFrag, r.fragSize, this.o.maxLost ?? 128, this.flash);
      }
      void this.uplink(port, ts004.encodeFragSessionSetupAns({ fragIndex: r.fragIndex, encodingUnsupported: unsupported, notEnoughMemory: false, fragSessionIndexNotSupported: false, wrongDescriptor: false }));
    } else if (cid === ts004.Ts004Cid.DataFragment) {
      const f = ts004.decodeDataFragment(data);
      if (!this.decoder || !this.session || f.fragIndex !== this.session.fragIndex) return;
      this.stats.fragmentsHeard++;
      const wasComplete = this.decoder.complete;
      if (this.decoder.push(f.n, f.payload) && !wasComplete) this.onComplete();
    } else if (cid === ts004.Ts004Cid.FragSessionStatus) {
      if (!this.decoder || !this.session) return;
      this.statusAsked = true;
      // The Class C session is over once the server polls the status; back to Class A.
      this.listening = false;
      void this.uplink(port, this.statusAns());
      if (!this.decoder.complete) this.startRepair();
    }
  }

  private statusAns(): Buffer {
    const d = this.decoder!;
    return ts004.encodeFragSessionStatusAns({ fragIndex: this.session!.fragIndex, nbFragReceived: d.fragmentsReceived, missingFrag: d.missing, notEnoughMatrixMemory: d.state === 'overflow' });
  }

  private startRepair(): void {
    const send = (): void => {
      if (!this.decoder || this.decoder.complete) return;
      const list = this.decoder.repairList().map((i) => i + 1);
      const { frame } = encodeRepairRequest(this.session!.fragIndex, list, maxPayload(this.o.dr));
      this.stats.repairRequests++;
      void this.uplink(this.o.ports.repairFPort, frame);
    };
    send();
    clearInterval(this.repairTimer);
    this.repairTimer = setInterval(send, this.o.repairIntervalMs ?? 400);
  }

  private onComplete(): void {
    clearInterval(this.repairTimer);
    if (this.statusAsked) void this.uplink(this.o.ports.fragFPort, this.statusAns());
  }

  /** The reconstructed data block, once every fragment is known. */
  fuotaData(): Buffer | undefined {
    if (!this.decoder?.complete || !this.session || !this.flash) return undefined;
    return this.flash.buf.subarray(0, this.session.nbFrag * this.session.fragSize - this.session.padding);
  }
}
