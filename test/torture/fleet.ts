/**
 * A fleet of TypeScript devices for the torture suite. Each one behaves like the firmware: check in
 * (reporting its in-progress transfer), download the offered patch block-wise from where its "flash"
 * copy ends (which survives any gateway crash), verify the patch digest, apply it with the reference
 * applier, check the result digest, and report applied then booted, retrying every step until the
 * gateway acknowledges it. Gateway outages show up as timeouts; the device just keeps trying.
 */
import { createHash } from 'node:crypto';
import { applyPatch } from '../../src/delta/apply.ts';
import { TestDevice } from '../integration/coap-device.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FleetDeviceOptions {
  port: number;
  id: string;
  key: Buffer;
  product: string;
  base: Buffer;
  targetSha256: string;
  /** Block size exponent: 2^(szx+4) bytes per block. */
  szx: number;
  /** Blocks fetched per step, then a short pause (keeps transfers running long enough to be cut). */
  blocksPerStep: number;
  pauseMs: number;
}

export class FleetDevice {
  readonly dev: TestDevice;
  running: string;
  data = Buffer.alloc(0);
  patchId: string | undefined;
  uri: string | undefined;
  size = 0;
  /** The gateway answered 2.04 to these reports. */
  appliedAck = false;
  bootedAck = false;
  done = false;
  /** Anything that must never happen (wrong patch bytes, wrong result): the test fails on it. */
  readonly violations: string[] = [];
  checkins = 0;
  errors = 0;
  private stopped = false;

  constructor(readonly o: FleetDeviceOptions) {
    this.dev = new TestDevice({ port: o.port, id: o.id, key: o.key, ackTimeoutMs: 150, maxRetransmit: 6 });
    this.running = sha(o.base);
  }

  async run(): Promise<void> {
    await this.dev.open();
    try {
      while (!this.done && !this.stopped) {
        try {
          await this.step();
        } catch {
          this.errors++;
          await sleep(100);
        }
      }
    } finally {
      this.dev.close();
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async step(): Promise<void> {
    if (!this.uri) return this.checkin();
    if (this.data.length < this.size) return this.download();
    return this.finish();
  }

  private async checkin(): Promise<void> {
    this.checkins++;
    // key 10: this device applies with the reference applier, which decodes patch format 2
    const extra: Array<[number, unknown]> = [[10, 2]];
    if (this.patchId && this.data.length > 0) extra.push([8, [Buffer.from(this.patchId, 'hex'), this.data.length]]);
    const { reply, map } = await this.dev.checkin(this.running, this.o.product, extra);
    if (reply.code !== '2.05') throw new Error(`check-in: ${reply.code}`);
    const what = map.get(1);
    if (what === 2) {
      const pid = Buffer.from(map.get(8) as Uint8Array).toString('hex');
      if (pid !== this.patchId) {
        // A different patch than the one in flash: start over (the firmware does the same).
        this.data = Buffer.alloc(0);
        this.patchId = pid;
      }
      this.uri = String(map.get(4));
      this.size = Number(map.get(5));
      return;
    }
    await sleep(what === 1 ? Math.min(400, 1000 * Number(map.get(2) ?? 1)) : 250);
  }

  private async download(): Promise<void> {
    const blk = 1 << (this.o.szx + 4);
    const offset = Math.floor(this.data.length / blk) * blk;
    let got;
    try {
      got = await this.dev.download(this.uri!, { szx: this.o.szx, offset, stopAfterBlocks: this.o.blocksPerStep });
    } catch (err) {
      // 4.04: the token is gone (delivery replaced); check in again for a fresh URI.
      if (/4\.04/.test((err as Error).message)) this.uri = undefined;
      throw err;
    }
    this.data = Buffer.concat([this.data.subarray(0, offset), got.data]);
    if (this.o.pauseMs > 0) await sleep(this.o.pauseMs);
  }

  private async finish(): Promise<void> {
    if (sha(this.data) !== this.patchId) {
      this.violations.push(`${this.o.id}: downloaded patch SHA-256 ${sha(this.data).slice(0, 12)} is not the offered ${this.patchId!.slice(0, 12)}`);
      this.data = Buffer.alloc(0);
      return;
    }
    if (!this.appliedAck) {
      const out = applyPatch(this.o.base, this.data);
      if (sha(out) !== this.o.targetSha256) {
        this.violations.push(`${this.o.id}: patch applied to ${sha(out).slice(0, 12)}, not the release ${this.o.targetSha256.slice(0, 12)}`);
        this.done = true;
        return;
      }
      const r = await this.dev.report('applied', [[4, Buffer.from(this.patchId!, 'hex')], [5, this.size]]);
      if (r.code !== '2.04') throw new Error(`report applied: ${r.code}`);
      this.appliedAck = true;
    }
    this.running = this.o.targetSha256;
    const r = await this.dev.report('booted', [[3, Buffer.from(this.running, 'hex')]]);
    if (r.code !== '2.04') throw new Error(`report booted: ${r.code}`);
    this.bootedAck = true;
    this.done = true;
  }
}
