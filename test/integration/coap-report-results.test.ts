/**
 * POST /r results: one per device and update (a report repeated after a power cut is answered but not
 * counted again; a new offer of the patch starts a new count), and a `failed` that only names one
 * transient failure (older firmware refused at the first) fails neither the transfer nor the rollout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestDevice } from './coap-device.ts';
import { startHarness, type Harness } from './coap-harness.ts';

describe('report results', () => {
  let h: Harness | undefined;
  let dev: TestDevice | undefined;
  afterEach(async () => {
    dev?.close();
    await h?.stop(true);
    h = dev = undefined;
  });

  async function offered(): Promise<{ h: Harness; dev: TestDevice; reports: string[]; failed: string[] }> {
    h = await startHarness({ patchSize: 4_000 });
    dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey, ackTimeoutMs: 40 });
    await dev.open();
    const reports: string[] = [];
    const failed: string[] = [];
    h.ctx.events.on('device.report', 'test', (e) => void reports.push(e.status));
    h.ctx.events.on('transfer.failed', 'test', (e) => void failed.push(e.reason));
    const { map } = await dev.checkin(h.baseSha256, h.product);
    expect(map.get(1)).toBe(2);
    return { h, dev, reports, failed };
  }
  const row = (hh: Harness) => hh.db.prepare('SELECT state, reported FROM transfers WHERE device_id = ? AND patch_id = ?').get(hh.deviceId, hh.patchId);

  it('counts a booted report sent twice (power cut before the device stored that it sent it) once', async () => {
    const { h, dev, reports } = await offered();
    const id: [number, unknown] = [4, Buffer.from(h.patchId, 'hex')];
    expect((await dev.report('booted', [id])).code).toBe('2.04');
    expect((await dev.report('booted', [id])).code).toBe('2.04');
    expect(reports).toEqual(['booted']);
    expect(row(h)).toEqual({ state: 'completed', reported: 'booted' });
    // offered again (the device is on its old image once more): its next result counts
    await dev.checkin(h.baseSha256, h.product);
    expect((await dev.report('booted', [id])).code).toBe('2.04');
    expect(reports).toEqual(['booted', 'booted']);
  });

  it('does not count a failed report that names one transient failure, but counts one that gave up after retries', async () => {
    const { h, dev, reports, failed } = await offered();
    const id: [number, unknown] = [4, Buffer.from(h.patchId, 'hex')];
    expect((await dev.report('failed', [[2, 'patch download: server answered with an error'], id])).code).toBe('2.04');
    expect(reports).toEqual([]);
    expect(failed).toEqual([]);
    expect(row(h)).toMatchObject({ state: 'active', reported: null });
    expect((await dev.report('failed', [[2, 'retries exhausted: server answered with an error'], id])).code).toBe('2.04');
    expect(reports).toEqual(['failed']);
    expect(failed).toEqual(['retries exhausted: server answered with an error']);
    expect(row(h)).toEqual({ state: 'failed', reported: 'failed' });
  });
});
