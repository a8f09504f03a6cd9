import { describe, expect, it } from 'vitest';
import type { DatagramTransport, PeerAddress } from '../../../src/bearer/types.ts';
import { scheduleConfigSchema } from '../../../src/schedule/config.ts';
import { MeteredTransport } from '../../../src/schedule/metered-transport.ts';
import { Scheduler } from '../../../src/schedule/scheduler.ts';

/** The radio is the one thing mocked: a transport that records what it was asked to send. */
class RecordingRadio implements DatagramTransport {
  readonly name = 'lora';
  readonly kind = 'lora' as const;
  readonly maxDatagram = 222;
  readonly sent: Buffer[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(data: Buffer): Promise<void> {
    this.sent.push(data);
  }
  onMessage(): void {}
}

describe('MeteredTransport', () => {
  it('charges every datagram and stays silent rather than break the hourly duty cycle', async () => {
    let t = 0;
    const clock = { now: () => Date.parse('2026-11-25T10:00:00Z') + t, monotonic: () => t };
    const s = new Scheduler(scheduleConfigSchema.parse({ bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g', sf: 12 } } }), clock);
    const radio = new RecordingRadio();
    const tx = new MeteredTransport(radio, s);
    const peer: PeerAddress = { address: '127.0.0.1', port: 1, bearer: 'lora' };
    // SF12, 40-byte replies (53 bytes PHY ≈ 2.3 s each): 1 % of an hour (36 s, less one largest frame
    // kept for edge overlap) holds 13 of them.
    for (let i = 0; i < 40; i++) await tx.send(Buffer.alloc(40), peer);
    expect(radio.sent.length).toBe(13);
    expect(tx.dropped).toBe(40 - radio.sent.length);
    expect(s.stats('lora')!.airtimeMs).toBeLessThanOrEqual(36_000);
    // An hour later the window has room again.
    t += 3_600_001;
    await tx.send(Buffer.alloc(40), peer);
    expect(radio.sent.length).toBe(14);
  });

  it('tells devices refused for duty cycle different times, a frame interval apart, instead of one', () => {
    let t = 0;
    const clock = { now: () => 0, monotonic: () => t };
    const s = new Scheduler(scheduleConfigSchema.parse({ bearers: { lora: { kind: 'lora', region: 'eu868', subBand: 'g3', sf: 9, burstMs: 600 } } }), clock);
    t = 100_000;
    expect(s.admit('lora', 'a', 64).ok).toBe(true);
    const b = s.admit('lora', 'b', 64);
    const c = s.admit('lora', 'c', 64);
    if (b.ok || c.ok) throw new Error('b and c must wait');
    const interval = s.frameAirtimeMs('lora', 64 + 24)! / 0.1 / 1000;
    expect(c.retryAfterSeconds - b.retryAfterSeconds).toBeCloseTo(interval, 3);
    t += b.retryAfterSeconds * 1000 + 1;
    expect(s.admit('lora', 'c', 64).ok).toBe(false); // not c's turn yet
    expect(s.admit('lora', 'b', 64).ok).toBe(true);
  });
});
