import dgram from 'node:dgram';
import { generate, parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerAddress } from '../../src/bearer/types.ts';
import { UdpTransport } from '../../src/bearer/udp.ts';

const ping = (mid: number) => generate({ confirmable: true, code: 'GET', messageId: mid, options: [{ name: 'Uri-Path', value: Buffer.from('x') }] });

async function roundTrip(t: UdpTransport, family: 'udp4' | 'udp6', host: string): Promise<{ seen: PeerAddress; reply: Buffer }> {
  const client = dgram.createSocket(family);
  await new Promise<void>((r) => client.bind(0, host, () => r()));
  const seen = new Promise<PeerAddress>((r) => t.onMessage((data, peer) => {
    void t.send(Buffer.from(data), peer); // echo back on the same bearer
    r(peer);
  }));
  const reply = new Promise<Buffer>((r) => client.once('message', (m) => r(m)));
  client.send(ping(7), t.port, host);
  const out = { seen: await seen, reply: await reply };
  client.close();
  return out;
}

describe('UDP bearer', () => {
  let t: UdpTransport | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('on "::" serves IPv6 and IPv4 peers from one dual-stack socket and replies to each', async () => {
    t = new UdpTransport({ host: '::', port: 0 });
    await t.start();
    const v6 = await roundTrip(t, 'udp6', '::1');
    expect(v6.seen.address).toBe('::1');
    expect(parse(v6.reply).messageId).toBe(7);
  });

  it('accepts IPv4 clients on a dual-stack socket as IPv4-mapped addresses', async () => {
    t = new UdpTransport({ host: '::', port: 0 });
    await t.start();
    const v4 = await roundTrip(t, 'udp4', '127.0.0.1');
    expect(v4.seen.address).toBe('::ffff:127.0.0.1');
    expect(v4.seen.bearer).toBe('udp');
  });

  it('names the port and a fix when the address is taken', async () => {
    t = new UdpTransport({ host: '127.0.0.1', port: 0 });
    await t.start();
    const clash = new UdpTransport({ host: '127.0.0.1', port: t.port });
    await expect(clash.start()).rejects.toThrow(new RegExp(`udp \\[127\\.0\\.0\\.1\\]:${t.port}: EADDRINUSE`));
  });

  it('refuses to send before start with a clear error', async () => {
    const idle = new UdpTransport({ host: '127.0.0.1', port: 0 });
    await expect(idle.send(Buffer.from([1]), { address: '127.0.0.1', port: 9, bearer: 'udp' })).rejects.toThrow(/not started/);
  });
});
