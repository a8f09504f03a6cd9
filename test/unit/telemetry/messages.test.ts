import { describe, expect, it } from 'vitest';
import { messageFor, Throttle, type MessageContext } from '../../../src/telemetry/messages.ts';
import { Topics, topicSegment } from '../../../src/telemetry/topics.ts';

function ctx(monotonicNow: number, throttle: Throttle): MessageContext {
  return { topics: new Topics('farm/', 'gw-1'), gatewayId: 'gw-1', wallNow: Date.UTC(2026, 0, 1), monotonicNow, throttle };
}

describe('topics', () => {
  it('escapes MQTT wildcards and separators in ids so one id stays one topic level', () => {
    expect(topicSegment('probe-01')).toBe('probe-01');
    expect(topicSegment('a/b')).toBe('a%2Fb');
    expect(topicSegment('x+#')).toBe('x%2B%23');
    expect(topicSegment('ü')).toBe('%C3%BC');
    expect(topicSegment('')).toBe('%00');
    expect(new Topics('farm/', 'gw-1').deviceState('a/b')).toBe('farm/gw-1/devices/a%2Fb/state');
  });
});

describe('messageFor', () => {
  it('throttles progress per device but always lets the first and the last block through', () => {
    const t = new Throttle(30_000);
    const p = (offset: number, at: number, deviceId = 'd1') =>
      messageFor('transfer.progress', { deviceId, patchId: 'p', offset, size: 1000, bearer: 'udp' }, ctx(at, t));
    expect(p(0, 0)).not.toBeNull();
    expect(p(100, 1000)).toBeNull();
    expect(p(100, 1000, 'd2')).not.toBeNull();
    expect(p(500, 29_999)).toBeNull();
    expect(p(600, 30_001)).not.toBeNull();
    expect(p(1000, 30_002)).not.toBeNull();
  });

  it('classifies results so the bounded outbox never drops them, and retains per-device state', () => {
    const t = new Throttle(0);
    const report = messageFor('device.report', { deviceId: 'd1', status: 'rolled-back', reason: 'self-test failed' }, ctx(0, t));
    expect(report).toMatchObject({ topic: 'farm/gw-1/devices/d1/result', kind: 'result', retain: true });
    expect(report!.payload).toEqual({
      type: 'device.report',
      ts: '2026-01-01T00:00:00.000Z',
      gateway: 'gw-1',
      data: { deviceId: 'd1', status: 'rolled-back', reason: 'self-test failed' },
    });
    expect(messageFor('rollout.state', { rolloutId: 'r', state: 'halted', reason: 'failures' }, ctx(0, t))).toMatchObject({
      topic: 'farm/gw-1/rollouts/r/state',
      kind: 'result',
      retain: true,
    });
    expect(messageFor('transfer.failed', { deviceId: 'd', patchId: 'p', reason: 'timeout' }, ctx(0, t))?.kind).toBe('result');
    expect(messageFor('device.checkin', { deviceId: 'd', product: 'x', runningSha256: 'a' }, ctx(0, t))).toMatchObject({ kind: 'state', retain: true });
  });

  it('throttles modem health as one stream', () => {
    const t = new Throttle(10_000);
    const m = (at: number) => messageFor('modem.health', { model: 'BG96', registered: true, rsrp: -90 }, ctx(at, t));
    expect(m(0)).not.toBeNull();
    expect(m(5000)).toBeNull();
    expect(m(10_000)).not.toBeNull();
  });
});
