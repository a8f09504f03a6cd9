/**
 * A client that lies about Object 5: it reports Downloaded and "updated successfully" with no update
 * under way. The real daemon logs the out-of-order state, sends no Execute and stores no flow.
 */
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { decodeMessage, encodeMessage, encodeUint, option, type CoapMessage } from '../../src/coap/message.ts';
import { encodeTlv } from '../../src/lwm2m/tlv.ts';
import { DaemonProcess, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { writeFileSync } from 'node:fs';

describe('a client that lies about its Object 5 state', () => {
  const tmp = tempDir('furrow-lwm2m-liar-');
  const sock = createSocket('udp4');
  let daemon: DaemonProcess | undefined;
  afterAll(async () => {
    sock.close();
    await daemon?.stop(5_000);
    tmp.cleanup();
  });

  it('is logged and ignored: no Execute, no stored flow', async () => {
    const port = await freeUdpPort();
    const config = join(tmp.dir, 'furrow.yaml');
    writeFileSync(config, [`data: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }`, `coap: { host: 127.0.0.1, port: ${port} }`, 'metrics: { port: 0 }', 'lwm2m:', '  endpoints:', '    liar: { product: p }'].join('\n') + '\n');
    daemon = DaemonProcess.start(['-c', config, 'start']);
    await daemon.waitForMsg('LwM2M server ready on /rd', 30_000);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const seen: CoapMessage[] = [];
    const observeTokens = new Map<string, Buffer>();
    sock.on('message', (b) => {
      const m = decodeMessage(b);
      seen.push(m);
      if (m.code === 0 || m.code >> 5 !== 0) return; // ACKs of our messages
      const path = m.options.filter((o) => o.number === 11).map((o) => o.value.toString()).join('/');
      const reply = (code: number, payload: Buffer, observe?: number) =>
        sock.send(encodeMessage({ type: 'ACK', code, messageId: m.messageId, token: m.token, options: [...(observe !== undefined ? [{ number: 6, value: encodeUint(observe) }] : []), { number: 12, value: encodeUint(11542) }], payload }), port, '127.0.0.1');
      if (path === '3/0') reply(0x45, encodeTlv([{ kind: 'instance', id: 0, children: [{ kind: 'resource', id: 0, value: Buffer.from('Liar Inc') }, { kind: 'resource', id: 3, value: Buffer.from('1.0') }] }]));
      else if (path === '5/0/3' && option(m, 6) !== undefined) {
        observeTokens.set(path, m.token);
        reply(0x45, encodeTlv([{ kind: 'resource', id: 3, value: Buffer.from([2]) }]), 1); // "Downloaded"
      } else if (path === '5/0/5' && option(m, 6) !== undefined) {
        observeTokens.set(path, m.token);
        reply(0x45, encodeTlv([{ kind: 'resource', id: 5, value: Buffer.from([0]) }]), 1);
      } else reply(0x84, Buffer.alloc(0));
    });
    sock.send(encodeMessage({ type: 'CON', code: 2, messageId: 1, token: Buffer.from([1]), options: [{ number: 11, value: Buffer.from('rd') }, { number: 15, value: Buffer.from('ep=liar') }, { number: 15, value: Buffer.from('lt=300') }], payload: Buffer.from('</1/0>,</3/0>,</5/0>') }), port, '127.0.0.1');
    const ignored = await daemon.waitFor((l) => l.msg === 'Object 5 state out of order; ignored', 20_000);
    expect(ignored.what).toMatch(/State 2 with no update under way/);
    for (let i = 0; i < 50 && observeTokens.size < 2; i++) await new Promise((r) => setTimeout(r, 100));
    // Then a notification: "firmware updated successfully".
    sock.send(encodeMessage({ type: 'NON', code: 0x45, messageId: 7, token: observeTokens.get('5/0/5')!, options: [{ number: 6, value: encodeUint(2) }, { number: 12, value: encodeUint(11542) }], payload: encodeTlv([{ kind: 'resource', id: 5, value: Buffer.from([1]) }]) }), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.some((m) => m.code === 2 && m.options.filter((o) => o.number === 11).map((o) => o.value.toString()).join('/') === '5/0/2')).toBe(false);
    expect(daemon.lines.some((l) => /LwM2M firmware update (succeeded|failed)/.test(l.msg))).toBe(false);
    const db = new Database(join(tmp.dir, 'data', 'furrow.db'), { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM lwm2m_firmware').get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT protocol, running_version FROM devices WHERE id = 'liar'").get()).toEqual({ protocol: 'lwm2m', running_version: '1.0' });
    db.close();
  }, 60_000);
});
