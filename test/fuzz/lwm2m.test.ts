/**
 * Fuzz the LwM2M server while a real transfer runs: the Anjay demo downloads its Object 5 package from the
 * daemon while another socket sends ≥10,000 mutated Register, Update and notification datagrams (and
 * random bytes) at the same port. The daemon must not crash or log a handler failure, and the update must
 * finish byte-exact.
 */
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, encodeUint, type CoapOption } from '../../src/coap/message.ts';
import { encodeTlv } from '../../src/lwm2m/tlv.ts';
import { CORPUS_IMAGES } from '../helpers/corpus.ts';
import type { DaemonProcess } from '../helpers/daemon.ts';
import type { ClientProcess } from '../helpers/lwm2m-clients.ts';
import { checkDownload, keepDownload, setupAnjayRollout } from '../helpers/lwm2m-daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { inputArb, SEED } from './harness.ts';

const N = Math.max(10_000, Number(process.env.FURROW_FUZZ_LWM2M ?? 0));
const path = (segs: string[]): CoapOption[] => segs.map((s) => ({ number: 11, value: Buffer.from(s) }));
const query = (qs: string[]): CoapOption[] => qs.map((q) => ({ number: 15, value: Buffer.from(q) }));

describe('LwM2M fuzz during a transfer', () => {
  const tmp = tempDir('furrow-lwm2m-fuzz-');
  let daemon: DaemonProcess | undefined;
  let anjay: ClientProcess | undefined;
  const sock = createSocket('udp4');
  afterAll(async () => {
    sock.close();
    await anjay?.stop();
    await daemon?.stop(5_000);
    tmp.cleanup();
  });

  it(`survives ${N} mutated Register/Update/notification datagrams and the download stays byte-exact`, async () => {
    const image = CORPUS_IMAGES[1]!;
    const s = await setupAnjayRollout(tmp.dir, image, { coap: 'rateLimit: { perSecond: 100000, burst: 100000 }' });
    const cfg = (await import('node:fs')).readFileSync(s.config, 'utf8').replace('    anjay-1:', '    fuzz-1: { product: wled }\n    anjay-1:');
    (await import('node:fs')).writeFileSync(s.config, cfg);
    daemon = await s.startDaemon();
    anjay = await s.startClient(s.port);
    await daemon.waitForMsg('LwM2M client identified');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    // A real registration of the fuzzer's own endpoint, so Updates name a live location.
    const reg = encodeMessage({ type: 'CON', code: 2, messageId: 1, token: Buffer.from([1]), options: [...path(['rd']), { number: 12, value: encodeUint(40) }, ...query(['ep=fuzz-1', 'lt=300', 'b=U'])], payload: Buffer.from('</1/0>,</3/0>,</5/0>') });
    const created = await new Promise<Buffer>((resolve) => {
      sock.once('message', (m) => resolve(m));
      sock.send(reg, s.port, '127.0.0.1');
    });
    const loc = decodeMessage(created).options.filter((o) => o.number === 8)[1]!.value.toString();
    const samples = [
      reg,
      encodeMessage({ type: 'CON', code: 2, messageId: 2, token: Buffer.from([2]), options: [...path(['rd', loc]), ...query(['lt=300'])], payload: Buffer.from('</1/0>,</3/0>') }),
      encodeMessage({ type: 'CON', code: 2, messageId: 3, token: Buffer.from([3, 3]), options: [...path(['rd', loc]), ...query(['b=UQ'])], payload: Buffer.alloc(0) }),
      encodeMessage({ type: 'NON', code: 0x45, messageId: 4, token: Buffer.from([9, 9, 9, 9]), options: [{ number: 6, value: encodeUint(7) }, { number: 12, value: encodeUint(11542) }], payload: encodeTlv([{ kind: 'resource', id: 3, value: Buffer.from([2]) }]) }),
      encodeMessage({ type: 'CON', code: 0x45, messageId: 5, token: Buffer.from([1, 2, 3, 4]), options: [{ number: 6, value: encodeUint(8) }, { number: 12, value: encodeUint(110) }], payload: Buffer.from('[{"n":"/5/0/5","v":1}]') }),
      encodeMessage({ type: 'CON', code: 1, messageId: 6, token: Buffer.from([6]), options: path(['fw', 'AAAAAAAAAAAAAAAA']), payload: Buffer.alloc(0) }),
    ];
    await s.applyRollout();
    await daemon.waitForMsg('LwM2M Package URI written', 30_000);
    const kept = keepDownload(s.pkgPath, join(tmp.dir, 'downloaded.bin'), anjay);
    const inputs = fc.sample(inputArb(samples, { maxRandom: 256 }), { numRuns: N, seed: SEED });
    let sent = 0;
    while (sent < inputs.length) {
      for (const b of inputs.slice(sent, sent + 200)) if (b.length > 0) sock.send(b, s.port, '127.0.0.1');
      sent += 200;
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = await daemon.waitForMsg(/^LwM2M firmware update (succeeded|failed)$/, 120_000);
    expect(done, anjay.output.slice(-1500)).toMatchObject({ msg: 'LwM2M firmware update succeeded', endpoint: 'anjay-1' });
    checkDownload(await kept, image);
    expect(daemon.proc.exitCode).toBeNull();
    const errors = daemon.lines.filter((l) => l.level >= 50);
    expect(errors.map((l) => l.msg)).toEqual([]);
    console.log(`lwm2m fuzz: ${sent} datagrams (seed ${SEED}); warnings logged ${daemon.lines.filter((l) => l.level === 40).length}`);
  }, 240_000);
});
