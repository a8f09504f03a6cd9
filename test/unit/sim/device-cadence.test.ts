/**
 * The simulated device against a scripted gateway on real UDP (the radio is the link model): it keeps
 * the block cadence a check-in answer gives (key 9), asks for the same block again when a paced request
 * goes unanswered, and sleeps as long as a "nothing to do" answer says (key 2).
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBlock, encodeBlock } from '../../../src/coap/block.ts';
import { decodeMessage, encodeMessage, encodeUint, option, options } from '../../../src/coap/message.ts';
import { ContentFormat, Opt } from '../../../src/coap/codes.ts';
import { encodeCbor, uint } from '../../../src/manifest/cbor.ts';
import { SimDevice } from '../../../src/sim/device.ts';
import { RadioMonitor } from '../../../src/sim/link.ts';
import { EventLoop, VirtualClock } from '../../../src/sim/virtual-time.ts';

const PATCH = 1024;
const SZX = 2; // 64-byte blocks
const patchId = createHash('sha256').update('patch').digest();

interface Script {
  /** Check-in answer extras, e.g. [[9, 10_000]]. */
  offer: Array<[number, unknown]>;
  /** Patch block requests (by arrival) to leave unanswered, as a duty-cycled gateway does. */
  ignore?: Set<number>;
  /** Payload of the answer to the final report, e.g. {2: 5400} (a duty-cycled gateway's next check-in). */
  finalAnswer?: Buffer;
}

/** A minimal furrow gateway: offers one update, serves a one-block manifest and the patch, ACKs reports. */
async function gateway(clock: VirtualClock, script: Script) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const patchAsks: Array<{ t: number; num: number }> = [];
  const checkins: number[] = [];
  const finalReports: number[] = [];
  sock.on('message', (buf, rinfo) => {
    const m = decodeMessage(buf);
    const path = options(m, Opt.UriPath).map((v) => v.toString());
    let code = 0x45; // 2.05
    const opts: Array<{ number: number; value: Buffer }> = [];
    let payload: Buffer = Buffer.alloc(0);
    if (path[0] === 'c') {
      checkins.push(clock.t);
      const offer = checkins.length === 1;
      const map = offer
        ? new Map<number, unknown>([[1, 2], [3, 'm/t'], [4, 'p/t'], [5, uint(PATCH)], [7, SZX], [8, patchId], ...script.offer])
        : new Map<number, unknown>([[1, 0], [2, uint(7200)]]);
      opts.push({ number: Opt.ContentFormat, value: encodeUint(ContentFormat.Cbor) });
      payload = encodeCbor(map);
    } else if (path[0] === 'r') {
      code = 0x44; // 2.04
      // The report body is inside the MAC envelope; 'booted' is the one after 'applied'.
      if (buf.includes(Buffer.from('booted'))) {
        finalReports.push(clock.t);
        if (script.finalAnswer) payload = script.finalAnswer;
      }
    }
    else {
      const blk = decodeBlock(option(m, Opt.Block2)!)!;
      const total = path[0] === 'p' ? PATCH : 40;
      if (path[0] === 'p') {
        patchAsks.push({ t: clock.t, num: blk.num });
        if (script.ignore?.has(patchAsks.length)) return;
      }
      const start = blk.num * 64;
      const more = start + 64 < total;
      opts.push({ number: Opt.Block2, value: encodeBlock({ num: blk.num, more, szx: SZX }) });
      payload = Buffer.alloc(Math.min(64, total - start));
    }
    sock.send(encodeMessage({ type: 'ACK', code, messageId: m.messageId, token: m.token, options: opts, payload }), rinfo.port, rinfo.address);
  });
  return { sock, patchAsks, checkins, finalReports };
}

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function run(script: Script) {
  const clock = new VirtualClock(Date.parse('2026-11-25T08:00:00Z'));
  const loop = new EventLoop(clock);
  const gw = await gateway(clock, script);
  let seed = 1;
  const device = new SimDevice('d1', Buffer.alloc(32, 1), {
    loop,
    port: (gw.sock.address() as { port: number }).port,
    product: 'p',
    runningSha256: '00'.repeat(32),
    targetSha256: '11'.repeat(32),
    link: { kind: 'nbiot', rttMs: [1000, 1000], bytesPerSecond: 2500, loss: 0, rsrp: -90 },
    behaviour: { checkinIntervalMs: 3_600_000, firstWakeMs: 1, powerCutRate: 0, powerOffMs: [1, 1], selfTestFailRate: 0, rebootMs: 1000 },
    monitor: new RadioMonitor(undefined, 0),
    random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
  });
  cleanup.push(() => {
    loop.stopped = true;
    device.close();
    gw.sock.close();
  });
  await device.open();
  void device.live();
  // Until the device has checked in once more after booting (the "nothing to do" answer).
  await loop.run(() => gw.checkins.length >= 3, 10 * 3_600_000);
  return { device, ...gw, clock };
}

describe('simulated device on a paced transfer', () => {
  it('leaves the interval of key 9 between block requests', async () => {
    const { patchAsks, device } = await run({ offer: [[9, 10_000]] });
    expect(device.stats.result).toBe('booted');
    expect(patchAsks.length).toBe(PATCH / 64);
    const gaps = patchAsks.slice(1).map((a, i) => a.t - patchAsks[i]!.t);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(10_000 - 1e-6);
  });

  it('asks as fast as its link allows without key 9', async () => {
    const { patchAsks } = await run({ offer: [] });
    const gaps = patchAsks.slice(1).map((a, i) => a.t - patchAsks[i]!.t);
    expect(Math.max(...gaps)).toBeLessThan(10_000);
  });

  it('asks for the same block again when a paced request goes unanswered, without checking in anew', async () => {
    const { patchAsks, checkins, device } = await run({ offer: [[9, 10_000]], ignore: new Set([3, 4, 5, 6, 7]) });
    expect(device.stats.result).toBe('booted');
    // Requests 3-7 were one block (the first try and its four CoAP retransmissions), then it asked again.
    expect(patchAsks.slice(2, 8).map((a) => a.num)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(checkins.length).toBe(3); // the offer, then two "nothing to do": no check-in in between
  });

  it('sleeps as long as a "nothing to do" answer says (key 2), not its own interval', async () => {
    const { checkins } = await run({ offer: [] });
    // Key 2 (2 h), plus the link's round trip; its own interval would have been 1 h.
    expect(checkins[2]! - checkins[1]!).toBeGreaterThanOrEqual(7_200_000);
    expect(checkins[2]! - checkins[1]!).toBeLessThan(7_200_000 + 5000);
  });

  it('sleeps as long as the answer to its final report says (key 2), instead of checking in at its interval', async () => {
    const { checkins, finalReports } = await run({ offer: [], finalAnswer: encodeCbor(new Map([[2, uint(5400)]])) });
    expect(finalReports.length).toBe(1);
    // No "nothing to do" check-in at its own 1 h interval: the next one comes after key 2 (1.5 h).
    expect(checkins[1]! - finalReports[0]!).toBeGreaterThanOrEqual(5_400_000);
    expect(checkins[1]! - finalReports[0]!).toBeLessThan(5_400_000 + 5000);
  });

  it('checks in at its own interval after an empty or unreadable report answer (v1 gateway)', async () => {
    for (const finalAnswer of [undefined, Buffer.from([0xff, 0x00])]) {
      const { checkins, finalReports } = await run({ offer: [], ...(finalAnswer ? { finalAnswer } : {}) });
      expect(checkins[1]! - finalReports[0]!).toBeGreaterThanOrEqual(3_600_000);
      expect(checkins[1]! - finalReports[0]!).toBeLessThan(3_600_000 + 5000);
    }
  });
});
