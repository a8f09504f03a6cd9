/**
 * /metrics and MQTT during a real transfer: the furrow CoAP server (real UDP socket, SQLite file) serves a
 * patch to libcoap's coap-client-notls (Debian libcoap3-bin) while Prometheus-style scrapes over HTTP watch
 * the numbers move, and the transfer's progress and completion reach a real mosquitto.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonContext } from '../../src/context.ts';
import { metricsConfigSchema, mqttConfigSchema } from '../../src/telemetry/config.ts';
import { createTelemetry, type Telemetry } from '../../src/telemetry/index.ts';
import { freeTcpPort } from '../helpers/daemon.ts';
import { TestDevice } from './coap-device.ts';
import { startHarness, type Harness } from './coap-harness.ts';
import { samples } from './metrics-text.ts';
import { consumer, Mosquitto, waitFor } from './mqtt-broker.ts';

const exec = promisify(execFile);

describe('metrics during a real CoAP download', () => {
  let h: Harness;
  let tel: Telemetry;
  let broker: Mosquitto;
  let metricsUrl: string;
  let ctx: DaemonContext;

  beforeAll(async () => {
    h = await startHarness({ patchSize: 60_001 });
    broker = await Mosquitto.start(h.dir, { persistent: false });
    const port = await freeTcpPort();
    metricsUrl = `http://127.0.0.1:${port}`;
    // Telemetry shares the CoAP server's event bus and database, as in the daemon; only its own settings differ.
    ctx = {
      ...h.ctx,
      config: {
        ...h.config,
        gateway: { id: 'gw-m' },
        metrics: metricsConfigSchema.parse({ port }),
        mqtt: mqttConfigSchema.parse({ url: broker.url, reconnectSeconds: 0.1, progressIntervalSeconds: 0.05 }),
      },
    };
    tel = createTelemetry(ctx);
    await tel.recorder.start();
    for (const s of tel.frontends) await s.start();
    ctx.events.emit('daemon.ready', { services: ['coap'] });
  });

  afterAll(async () => {
    for (const s of [...(tel?.frontends ?? [])].reverse()) await s.stop();
    await tel?.recorder.stop();
    await h?.stop(true);
    await broker?.stop();
  });

  const scrape = async () => {
    const res = await fetch(`${metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    return res.text();
  };

  it('answers /healthz and /readyz, refuses other methods and paths', async () => {
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${metricsUrl}/readyz`)).text()).toBe('ready\n');
    expect((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${metricsUrl}/nope`)).status).toBe(404);
  });

  it('moves transfer, byte and outbox metrics while coap-client-notls downloads the patch', async () => {
    await waitFor('MQTT connected', () => tel.state.mqtt.connected);
    const sub = await consumer(broker.url, 'furrow/gw-m/devices/+/transfer', { clean: true, properties: {} });
    const dev = new TestDevice({ port: h.port, id: h.deviceId, key: h.deviceKey });
    await dev.open();
    const { map } = await dev.checkin(h.baseSha256, h.product);
    dev.close();
    const patchPath = map.get(4) as string;

    const before = await scrape();
    expect(samples(before, 'furrow_transfers_completed_total').size).toBe(0);
    expect([...samples(before, 'furrow_bytes_served_total').values()].reduce((a, b) => a + b, 0)).toBe(0);

    const out = join(h.dir, 'patch.bin');
    let done = false;
    const download = exec('coap-client-notls', ['-B', '30', '-m', 'get', '-b', '64', '-o', out, `coap://127.0.0.1:${h.port}/${patchPath}`], { timeout: 30_000 })
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw new Error('coap-client-notls not found: install Debian package libcoap3-bin');
        throw err;
      })
      .finally(() => (done = true));
    let sawActive = 0;
    let scrapes = 0;
    while (!done) {
      const text = await scrape();
      scrapes++;
      sawActive = Math.max(sawActive, samples(text, 'furrow_transfers').get('{state="active"}') ?? 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    await download;
    expect(readFileSync(out).equals(h.patch)).toBe(true);
    // Scraped while bytes were flowing: the transfer showed as active.
    expect(scrapes).toBeGreaterThan(1);
    expect(sawActive).toBe(1);

    let after = '';
    await waitFor('completed transfer and served bytes in /metrics', async () => {
      after = await scrape();
      const bytes = [...samples(after, 'furrow_bytes_served_total').values()].reduce((a, b) => a + b, 0);
      return (samples(after, 'furrow_transfers_completed_total').size > 0 && bytes >= h.patch.length);
    });
    const completed = samples(after, 'furrow_transfers_completed_total');
    expect([...completed.values()]).toEqual([1]);
    expect(samples(after, 'furrow_transfers').get('{state="completed"}')).toBe(1);
    expect(samples(after, 'furrow_transfers').get('{state="active"}')).toBe(0);

    // The same transfer over MQTT: throttled progress, then completion, in order.
    await waitFor('completion over MQTT', () => sub.messages.some((m) => m.body.type === 'transfer.completed'));
    const types = sub.messages.map((m) => m.body.type);
    expect(types.at(-1)).toBe('transfer.completed');
    expect(types.filter((t) => t === 'transfer.progress').length).toBeGreaterThanOrEqual(1);
    const offsets = sub.messages.filter((m) => m.body.type === 'transfer.progress').map((m) => (m.body.data as { offset: number }).offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    await waitFor('outbox drained', async () => samples(await scrape(), 'furrow_outbox_depth').get('') === 0);
    expect(samples(await scrape(), 'furrow_mqtt_published_total').get('')).toBeGreaterThanOrEqual(sub.messages.length);
    await sub.client.endAsync(true);
  });

  it('moves modem, duty-cycle and rollout gauges with the events their modules emit', async () => {
    h.ctx.events.emit('modem.health', { model: 'BG96', rsrp: -97, sinr: 4, registered: true, ceLevel: 1 });
    h.ctx.events.emit('schedule.budget', { bearer: 'lora', dutyCycleUsed: 0.42, queueLength: 3 });
    h.ctx.events.emit('rollout.progress', { rolloutId: 'spring', wave: 2, total: 40, updated: 10, failed: 1, inProgress: 4 });
    const text = await scrape();
    expect(samples(text, 'furrow_modem_rsrp_dbm').get('{model="BG96"}')).toBe(-97);
    expect(samples(text, 'furrow_modem_registered').get('{model="BG96"}')).toBe(1);
    expect(samples(text, 'furrow_duty_cycle_used_ratio').get('{bearer="lora"}')).toBe(0.42);
    expect(samples(text, 'furrow_transfer_queue_length').get('{bearer="lora"}')).toBe(3);
    expect(samples(text, 'furrow_rollout_progress_ratio').get('{rollout="spring"}')).toBe(0.25);
    expect(samples(text, 'furrow_rollout_devices').get('{rollout="spring",outcome="failed"}')).toBe(1);

    const status = (await (await fetch(`${metricsUrl}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ source: 'daemon', gateway: 'gw-m', modem: { model: 'BG96', rsrp: -97 }, budgets: [{ bearer: 'lora', dutyCycleUsed: 0.42 }] });
  });

  it('moves the listener to a new port on reload', async () => {
    const port = await freeTcpPort();
    const mutable = ctx as { config: DaemonContext['config'] };
    mutable.config = { ...ctx.config, metrics: metricsConfigSchema.parse({ port }) };
    await tel.http.reload();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await expect(fetch(`${metricsUrl}/healthz`)).rejects.toThrow();
    metricsUrl = `http://127.0.0.1:${port}`;
  });
});
