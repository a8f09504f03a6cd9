/**
 * The CoAP server on a duty-cycled bearer, against a real Scheduler's advice over real UDP: refusals
 * of blocks cost no downlink, a refusal is never replayed from the duplicate cache, check-in answers
 * carry the block cadence and the idle check-in time, and a bearer added after start is metered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DatagramTransport, PeerAddress } from '../../../src/bearer/types.ts';
import { decodeCbor } from '../../../src/manifest/cbor.ts';
import type { AdmitResult, TransmitGate } from '../../../src/policy.ts';
import { scheduleConfigSchema } from '../../../src/schedule/config.ts';
import { MeteredTransport, meterIfModelled } from '../../../src/schedule/metered-transport.ts';
import { Scheduler } from '../../../src/schedule/scheduler.ts';
import { TestDevice } from '../../integration/coap-device.ts';
import { startHarness, type Harness } from '../../integration/coap-harness.ts';

/** Answers the CoAP layer's gate questions from a script, then admits; records what it was asked. */
class ScriptedGate implements TransmitGate {
  asked = 0;
  constructor(private readonly answers: AdmitResult[]) {}
  admit(): AdmitResult {
    this.asked++;
    return this.answers.shift() ?? { ok: true };
  }
}

const lora = (bearer: string, extra: Record<string, unknown> = {}) =>
  new Scheduler(scheduleConfigSchema.parse({ bearers: { [bearer]: { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 9, ...extra } } }), { now: () => Date.now(), monotonic: () => performance.now() });

let h: Harness | undefined;
let dev: TestDevice | undefined;
afterEach(async () => {
  dev?.close();
  await h?.stop(true);
  h = dev = undefined;
});

async function setup(gate: TransmitGate, radio: Scheduler | undefined): Promise<{ h: Harness; dev: TestDevice; patchPath: string; map: Map<number, unknown> }> {
  h = await startHarness({ patchSize: 2048, service: { gate, ...(radio ? { radio } : {}) } });
  dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 40, maxRetransmit: 3 });
  await dev.open();
  const { map } = await dev.checkin(h.baseSha256, h.product);
  expect(map.get(1)).toBe(2);
  return { h, dev, patchPath: String(map.get(4)), map };
}

describe('block refusals on a duty-cycled bearer', () => {
  it('leaves a short refusal unanswered, and the retransmission gets the block', async () => {
    const gate = new ScriptedGate([{ ok: false, retryAfterSeconds: 4, reason: 'duty cycle g3' }]);
    const { h, dev, patchPath } = await setup(gate, lora('udp'));
    const replies = h.service.stats!.replies;
    const before = dev.retransmissions;
    const r = await dev.request('GET', patchPath, { block2: { num: 0, szx: 2 } });
    expect(r.code).toBe('2.05');
    expect(dev.retransmissions - before).toBe(1); // the first try heard nothing
    expect(gate.asked).toBe(2); // the retransmission was asked about again, not answered from the cache
    expect(h.service.stats!.replies - replies).toBe(1); // one downlink: the block, no 5.03
  });

  it('answers a long refusal with 5.03 and Max-Age, so the device sleeps instead of retransmitting in vain', async () => {
    const gate = new ScriptedGate([{ ok: false, retryAfterSeconds: 900, reason: 'duty cycle g3' }]);
    const { dev, patchPath } = await setup(gate, lora('udp'));
    const r = await dev.request('GET', patchPath, { block2: { num: 0, szx: 2 } });
    expect(r.code).toBe('5.03');
    expect(r.options.get('Max-Age')!.readUIntBE(0, r.options.get('Max-Age')!.length)).toBe(900);
  });

  it('answers refusals on a bearer without a duty cycle with 5.03, as before', async () => {
    const gate = new ScriptedGate([{ ok: false, retryAfterSeconds: 4, reason: 'link rate' }]);
    const { dev, patchPath } = await setup(gate, lora('some-other-bearer'));
    const r = await dev.request('GET', patchPath, { block2: { num: 0, szx: 2 } });
    expect(r.code).toBe('5.03');
    expect(gate.asked).toBe(1);
  });

  it('never replays a cached 5.03: a retransmitted request is asked about again', async () => {
    // The 5.03 is lost on the way down (the device drops it), so the device retransmits the same MID.
    const gate = new ScriptedGate([{ ok: false, retryAfterSeconds: 4, reason: 'link rate' }]);
    const { h, dev, patchPath } = await setup(gate, undefined);
    const o = dev.o as { dropRate?: number; random?: () => number };
    // The device draws once per datagram sent or received: keep the request, lose the 5.03, keep the rest.
    const draws = [1, 0];
    o.dropRate = 0.5;
    o.random = () => draws.shift() ?? 1;
    const duplicates = h.service.stats!.duplicates;
    const before = dev.retransmissions;
    const r = await dev.request('GET', patchPath, { block2: { num: 0, szx: 2 } });
    expect(dev.retransmissions - before).toBe(1);
    expect(r.code).toBe('2.05'); // not the cached 5.03
    expect(gate.asked).toBe(2);
    expect(h.service.stats!.duplicates).toBe(duplicates);
  });
});

describe('check-in answers on a duty-cycled bearer', () => {
  it('give the block cadence (key 9) with an update, as the scheduler computes it', async () => {
    const radio = lora('udp', { maxConcurrentTransfers: 2 });
    const { h, map } = await setup(new ScriptedGate([]), radio);
    expect(map.get(9)).toBe(radio.blockIntervalMs('udp', h.patch.length));
    // SF9 frames of ~100 bytes (≈ 0.5 s) at 10 % shared by two transfers: about 10 s apart.
    expect(Number(map.get(9))).toBeGreaterThan(8_000);
    expect(Number(map.get(9))).toBeLessThan(13_000);
  });

  it('tell a device with nothing to do when to check in next (key 2 with decision 0)', async () => {
    const { h, dev } = await setup(new ScriptedGate([]), lora('udp', { idleCheckinSeconds: 43_200 }));
    const { map } = await dev.checkin(h.targetSha256, h.product);
    expect(map.get(1)).toBe(0);
    expect(map.get(2)).toBe(43_200);
  });

  it('leave keys 2 and 9 out on a bearer without a duty cycle (v1 answers unchanged)', async () => {
    const { h, dev, map } = await setup(new ScriptedGate([]), lora('some-other-bearer'));
    expect(map.has(9)).toBe(false);
    const idle = await dev.checkin(h.targetSha256, h.product);
    expect([...idle.map.keys()]).toEqual([1]);
  });
});

describe('block replies on a duty-cycled bearer', () => {
  it('carry Content-Format on block 0 only, for the patch and the manifest', async () => {
    const { h, dev, patchPath, map } = await setup(new ScriptedGate([]), lora('udp'));
    for (const path of [patchPath, String(map.get(3))]) {
      const first = await dev.request('GET', path, { block2: { num: 0, szx: 2 } });
      expect(first.code).toBe('2.05');
      expect(first.options.has('Content-Format')).toBe(true);
      const later = await dev.request('GET', path, { block2: { num: 1, szx: 2 } });
      expect(later.code).toBe('2.05');
      expect(later.options.has('Content-Format')).toBe(false);
      expect(later.options.has('ETag')).toBe(true); // a resuming device still checks the representation
    }
    // The blocks still put the patch together byte for byte.
    const got = await dev.download(patchPath, { szx: 2 });
    expect(got.data.equals(h.patch)).toBe(true);
  });

  it('keep Content-Format on every block on a bearer without a duty cycle', async () => {
    const { dev, patchPath } = await setup(new ScriptedGate([]), lora('some-other-bearer'));
    const later = await dev.request('GET', patchPath, { block2: { num: 1, szx: 2 } });
    expect(later.options.get('Content-Format')).toEqual(Buffer.from([42]));
  });
});

describe('report answers on a duty-cycled bearer', () => {
  it('name the next check-in (key 2) after a final report, so an updated device need not ask', async () => {
    const { h, dev } = await setup(new ScriptedGate([]), lora('udp', { idleCheckinSeconds: 43_200 }));
    const patchId = Buffer.from(h.patchId, 'hex');
    const applied = await dev.report('applied', [[4, patchId], [5, h.patch.length]]);
    expect(applied.code).toBe('2.04');
    expect(applied.payload.length).toBe(0); // the device reboots next; nothing to tell it
    for (const status of ['booted', 'failed']) {
      const r = await dev.report(status, [[4, patchId]]);
      expect(r.code).toBe('2.04');
      expect(decodeCbor(r.payload)).toEqual(new Map([[2, 43_200]]));
    }
  });

  it('stay empty on a bearer without a duty cycle (v1 answers unchanged)', async () => {
    const { h, dev } = await setup(new ScriptedGate([]), lora('some-other-bearer'));
    const r = await dev.report('booted', [[4, Buffer.from(h.patchId, 'hex')]]);
    expect(r.code).toBe('2.04');
    expect(r.payload.length).toBe(0);
  });
});

/** A bearer that comes up after start (a modem, a LoRa network server); the radio is mocked. */
class LateRadio implements DatagramTransport {
  readonly name = 'late-lora';
  readonly kind = 'lora' as const;
  readonly maxDatagram = 222;
  readonly sent: Buffer[] = [];
  private handler: ((d: Buffer, p: PeerAddress) => void) | undefined;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(data: Buffer): Promise<void> {
    this.sent.push(data);
  }
  onMessage(h: (d: Buffer, p: PeerAddress) => void): void {
    this.handler = h;
  }
  inject(d: Buffer): void {
    this.handler!(d, { address: 'dev-eui-1', port: 1, bearer: this.name });
  }
}

describe('bearers added after start', () => {
  it('are metered: every reply is charged to the duty cycle, and none leaves over it', async () => {
    const scheduler = lora('late-lora', { subBand: 'g', sf: 12 });
    h = await startHarness({ service: { wrapTransport: (t) => meterIfModelled(scheduler, t) } });
    const late = new LateRadio();
    await h.service.addTransport(late);
    const served = h.service.bearers.find((b) => b.name === 'late-lora');
    expect(served).toBeInstanceOf(MeteredTransport);
    // CoAP pings (Empty CON → RST, 4 bytes): SF12 at 1 % holds a limited number per hour.
    for (let mid = 0; mid < 200; mid++) late.inject(Buffer.from([0x40, 0x00, mid >> 8, mid & 0xff]));
    await new Promise((r) => setImmediate(r));
    const stats = scheduler.stats('late-lora')!;
    expect(stats.admittedFrames).toBe(late.sent.length);
    expect(late.sent.length).toBeGreaterThan(0);
    expect(late.sent.length).toBeLessThan(200); // the rest stayed off air
    expect(stats.airtimeMs).toBeLessThanOrEqual(36_000);
    // The plain UDP bearer has no radio model: served as is.
    expect(h.service.bearers.find((b) => b.name === 'udp')).not.toBeInstanceOf(MeteredTransport);
  });
});
