import { describe, expect, it } from 'vitest';
import { duration, progressBar, renderStatus } from '../../../src/telemetry/status-render.ts';
import type { StatusSnapshot } from '../../../src/telemetry/status.ts';

const base: StatusSnapshot = {
  source: 'database',
  gateway: 'gw-1',
  generatedAt: '2026-01-01T00:00:00.000Z',
  daemon: null,
  mqtt: { enabled: true, connected: null, since: null, lastError: null, published: null },
  outbox: { depth: 3, oldestPendingAgeSeconds: 125, lastAckedSeq: 41, droppedTotal: 0 },
  counts: { devices: 12, releases: 2, transfersActive: 1 },
  rollouts: [{ id: 'spring', state: 'running', wave: 2, reason: null, release: 'soil-probe 1.4.2', updatedAt: '2026-01-01T00:00:00.000Z', progress: { total: 10, updated: 4, failed: 1, inProgress: 2 } }],
  transfers: [{ deviceId: 'probe-07', patchId: 'ab'.repeat(32), state: 'active', offset: 12_288, size: 49_152, percent: 25, bearer: 'udp', lastSeenAt: '2026-01-01T00:00:00.000Z' }],
  modem: null,
  budgets: [],
};

describe('renderStatus', () => {
  it('draws progress bars proportional to the fraction and clamps out-of-range values', () => {
    expect(progressBar(0.25, 8)).toBe('[##------]');
    expect(progressBar(1.7, 4)).toBe('[####]');
    expect(progressBar(Number.NaN, 4)).toBe('[----]');
  });

  it('formats durations an operator reads at a glance', () => {
    expect(duration(59)).toBe('59s');
    expect(duration(125)).toBe('2m 5s');
    expect(duration(3 * 86400 + 7200)).toBe('3d 2h');
  });

  it('says where the numbers came from and shows rollouts and transfers with percentages', () => {
    const text = renderStatus(base, 'the daemon is not reachable at http://127.0.0.1:9464');
    expect(text).toContain('from the database: the daemon is not reachable at http://127.0.0.1:9464');
    expect(text).toContain('Outbox     3 waiting (oldest 2m 5s old), last acknowledged #41, 0 dropped');
    expect(text).toMatch(/spring\s+running\s+wave 2\s+soil-probe 1\.4\.2\s+\[########------------\] 40%\s+4\/10 updated, 1 failed/);
    expect(text).toMatch(/probe-07\s+abababababab\s+active\s+\[#####---------------\]\s+25\.0%\s+12\.0 KiB \/ 48\.0 KiB\s+udp/);
  });

  it('shows a live daemon, a lost broker link and the modem', () => {
    const text = renderStatus({
      ...base,
      source: 'daemon',
      daemon: { pid: 42, startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 3700, ready: true },
      mqtt: { enabled: true, connected: false, since: null, lastError: 'connect ECONNREFUSED', published: 0 },
      modem: { model: 'BG96', registered: true, rsrp: -97, ceLevel: 1, at: '2026-01-01T00:00:00.000Z' },
      budgets: [{ bearer: 'lora', dutyCycleUsed: 0.5, queueLength: 4 }],
    });
    expect(text).toContain('from the running daemon (pid 42, up 1h 1m)');
    expect(text).toContain('MQTT       DISCONNECTED: connect ECONNREFUSED');
    expect(text).toContain('BG96  registered  RSRP -97 dBm  CE level 1');
    expect(text).toMatch(/lora\s+duty cycle \[#####-----\] 50%\s+queue 4/);
  });
});
