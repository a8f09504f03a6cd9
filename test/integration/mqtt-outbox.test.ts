/**
 * The telemetry outbox against a real mosquitto: events survive a broker crash in order, commands are
 * checked before anything acts, and a bounded outbox drops progress (never results) during an outage.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { parseConfigText } from '../../src/config/index.ts';
import type { DaemonContext } from '../../src/context.ts';
import { EventBus } from '../../src/events.ts';
import { silentLogger } from '../../src/log.ts';
import { BlobStore } from '../../src/release/blob-store.ts';
import { openDatabase, type Db } from '../../src/store/database.ts';
import { Outbox } from '../../src/store/outbox.ts';
import { createTelemetry, type CommandHandlers, type Telemetry } from '../../src/telemetry/index.ts';
import { consumer, Mosquitto, waitFor } from './mqtt-broker.ts';

let dir: string;
let broker: Mosquitto;
let db: Db;
let ctx: DaemonContext;
let tel: Telemetry | undefined;
const closers: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'furrow-'));
  broker = await Mosquitto.start(dir);
});

afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => undefined);
  if (tel) for (const s of [...tel.frontends].reverse()) await s.stop();
  if (tel) await tel.recorder.stop();
  tel = undefined;
  db?.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startTelemetry(mqttYaml: string): Promise<Telemetry> {
  const file = join(dir, 'furrow.yaml');
  const config = parseConfigText(
    `gateway: { id: gw-t }\ndata: { dir: ${dir}/data }\nmetrics: { port: 0 }\nmqtt:\n  url: ${broker.url}\n  reconnectSeconds: 0.1\n${mqttYaml}`,
    file,
  );
  db = openDatabase(join(dir, 'data', 'furrow.db'), { skipIntegrityCheck: true });
  const log = silentLogger();
  ctx = { config, configFile: file, log, db, blobs: new BlobStore(join(dir, 'blobs')), events: new EventBus(log), clock: systemClock };
  const t = createTelemetry(ctx);
  await t.recorder.start();
  for (const s of t.frontends) await s.start();
  ctx.events.emit('daemon.ready', { services: [] });
  tel = t;
  return t;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MQTT outbox with a real mosquitto', () => {
  it('delivers every event once per seq and in order when the broker is SIGKILLed and restarted mid-stream', async () => {
    const sub = await consumer(broker.url, 'furrow/gw-t/devices/+/result');
    closers.push(() => sub.client.endAsync(true));
    await startTelemetry('  outbox: { inflight: 8 }\n');
    await waitFor('gateway connected', () => tel!.state.mqtt.connected);

    let n = 0;
    const emit = (count: number) => {
      for (let i = 0; i < count; i++, n++) ctx.events.emit('device.report', { deviceId: `probe-${n % 7}`, status: 'updated', reason: `event-${n}` });
    };
    for (let i = 0; i < 20; i++) {
      emit(4);
      await sleep(2);
    }
    const ob = new Outbox(db);
    const killAt = { acked: ob.lastAckedSeq(), got: Math.max(0, ...sub.messages.map((m) => m.body.seq as number)) };
    await broker.kill();
    for (let i = 0; i < 20; i++) {
      emit(4);
      await sleep(2);
    }
    await waitFor('gateway to notice the broker is gone', () => !tel!.state.mqtt.connected);
    expect(new Outbox(db).depth()).toBeGreaterThan(0);
    await broker.restart();
    emit(80);
    const total = n;
    try {
      await waitFor('all events at the consumer', () => new Set(sub.messages.map((m) => m.body.seq)).size >= total, 15_000);
    } catch (e) {
      const got = new Set(sub.messages.map((m) => m.body.seq as number));
      const missing: number[] = [];
      for (let s = 1; s <= total; s++) if (!got.has(s)) missing.push(s);
      throw new Error(`${(e as Error).message}: ${JSON.stringify({ killAt, missing, total, depth: ob.depth(), acked: ob.lastAckedSeq() })}`);
    }
    await waitFor('outbox drained', () => new Outbox(db).depth() === 0);

    const seen = new Set<number>();
    const firstArrivals: Array<{ seq: number; n: number }> = [];
    for (const m of sub.messages) {
      const seq = m.body.seq as number;
      if (seen.has(seq)) continue;
      seen.add(seq);
      firstArrivals.push({ seq, n: Number(String((m.body.data as { reason: string }).reason).slice(6)) });
    }
    // Every event arrived, and in the order it was emitted.
    expect(firstArrivals.map((a) => a.n)).toEqual([...Array(total).keys()]);
    for (let i = 1; i < firstArrivals.length; i++) expect(firstArrivals[i]!.seq).toBeGreaterThan(firstArrivals[i - 1]!.seq);
    // At-least-once at the broker boundary: the gateway re-sends only what was in flight when the broker died
    // (inflight: 8). Those arrive as fresh messages; the broker's own redeliveries to the consumer's resumed
    // session carry the DUP flag and are the broker's at-least-once, not the gateway's.
    const firstSeen = new Set<number>();
    let resentByGateway = 0;
    for (const m of sub.messages) {
      const seq = m.body.seq as number;
      if (firstSeen.has(seq) && !m.dup) resentByGateway++;
      firstSeen.add(seq);
    }
    expect(resentByGateway).toBeLessThanOrEqual(8);
    expect(firstArrivals[0]!.seq).toBeGreaterThan(0);
  });

  it('answers bad commands with an error reply and never acts on them; a good one acts once', async () => {
    const t = await startTelemetry('');
    const calls: string[] = [];
    const handlers: CommandHandlers = {
      pauseRollout: (id, reason) => void calls.push(`pause ${id} ${reason}`),
      resumeRollout: (id) => void calls.push(`resume ${id}`),
      haltRollout: (id, reason) => void calls.push(`halt ${id} ${reason}`),
    };
    t.setCommandHandlers(handlers);
    await waitFor('gateway connected', () => t.state.mqtt.connected);
    const ops = await consumer(broker.url, 'furrow/gw-t/cmd/reply', { clean: true, properties: {} });
    closers.push(() => ops.client.endAsync(true));
    // The command subscription is made right after connect; give the SUBACK a moment.
    await sleep(200);

    const send = (body: string, retain = false) => ops.client.publishAsync('furrow/gw-t/cmd', body, { qos: 1, retain });
    await send('{"id":"a1","command":"rollout.pause"'); // truncated JSON
    await send(JSON.stringify({ id: 'a2', command: 'rollout.delete', rollout: 'spring' }));
    await send(JSON.stringify({ id: 'a3', command: 'rollout.halt', rollout: 'spring' })); // no reason
    await send(JSON.stringify({ id: 'a4', command: 'rollout.resume', rollout: 'spring', sudo: true }));
    await send(JSON.stringify({ id: 'a5', command: 'rollout.pause', rollout: 'spring', reason: 'milking' }));
    await send(JSON.stringify({ id: 'a6', command: 'status' }));
    await waitFor('six replies', () => ops.messages.length >= 6);
    const byId = new Map(ops.messages.map((m) => [m.body.id, m.body]));
    expect(ops.messages[0]!.body).toMatchObject({ id: null, ok: false, error: { code: 'BAD_JSON' } });
    expect(byId.get('a2')).toMatchObject({ ok: false, error: { code: 'NOT_ALLOWED' } });
    expect(byId.get('a3')).toMatchObject({ ok: false, error: { code: 'BAD_COMMAND' } });
    expect(byId.get('a4')).toMatchObject({ ok: false, error: { code: 'BAD_COMMAND' } });
    expect(byId.get('a5')).toMatchObject({ ok: true, command: 'rollout.pause' });
    expect(byId.get('a6')).toMatchObject({ ok: true, command: 'status', result: { gateway: 'gw-t', source: 'daemon', mqtt: { connected: true } } });
    expect(calls).toEqual(['pause spring milking']);

    // MQTT 5 request/response: the reply goes to the requester's response topic with its correlation data.
    const private_ = await consumer(broker.url, 'ops/me/replies', { clean: true, properties: {} });
    closers.push(() => private_.client.endAsync(true));
    const got = new Promise<Buffer | undefined>((resolve) =>
      private_.client.once('message', (_t, _p, packet) => resolve(packet.properties?.correlationData as Buffer | undefined)),
    );
    await private_.client.publishAsync('furrow/gw-t/cmd', JSON.stringify({ id: 'b1', command: 'rollout.resume', rollout: 'spring' }), {
      qos: 1,
      properties: { responseTopic: 'ops/me/replies', correlationData: Buffer.from('corr-77') },
    });
    expect((await got)?.toString()).toBe('corr-77');
    expect(private_.messages[0]!.body).toMatchObject({ id: 'b1', ok: true });

    // A retained command would replay on every reconnect: refused, no action.
    await send(JSON.stringify({ id: 'c1', command: 'rollout.halt', rollout: 'spring', reason: 'x' }), true);
    await waitFor('retained refusal', () => ops.messages.some((m) => m.body.id === 'c1'));
    expect(ops.messages.find((m) => m.body.id === 'c1')!.body).toMatchObject({ ok: false, error: { code: 'RETAINED' } });
    expect(calls).toEqual(['pause spring milking', 'resume spring']);
    await send('', true); // clear the retained message
  });

  it('keeps the outbox bounded during an outage: drops old progress, keeps every result, and says so', async () => {
    await broker.kill();
    await startTelemetry('  progressIntervalSeconds: 0\n  outbox: { maxRows: 100 }\n');
    for (let i = 0; i < 150; i++) {
      ctx.events.emit('transfer.progress', { deviceId: 'probe-1', patchId: 'p1', offset: (i + 1) * 512, size: 1_000_000, bearer: 'udp' });
      if (i % 10 === 0) ctx.events.emit('device.report', { deviceId: `probe-${i}`, status: 'updated', reason: `r${i}` });
    }
    const outbox = new Outbox(db);
    expect(outbox.droppedTotal()).toBeGreaterThan(0);
    expect(outbox.depth()).toBeLessThanOrEqual(100 + 15 + 10);

    await broker.restart();
    const sub = await consumer(broker.url, 'furrow/gw-t/#', { clean: true, properties: {} });
    closers.push(() => sub.client.endAsync(true));
    // Rows written while the consumer was away are published when the gateway reconnects (after the consumer).
    await waitFor('outbox drained', () => outbox.depth() === 0, 20_000);
    await waitFor('drop notice', () => sub.messages.some((m) => m.topic === 'furrow/gw-t/outbox/dropped'));
    const results = sub.messages.filter((m) => m.topic.endsWith('/result'));
    expect(results.map((m) => (m.body.data as { reason: string }).reason)).toEqual([...Array(15).keys()].map((k) => `r${k * 10}`));
    const progress = sub.messages.filter((m) => m.topic.endsWith('/transfer'));
    // The newest progress survived; the oldest went first.
    expect((progress.at(-1)!.body.data as { offset: number }).offset).toBe(150 * 512);
    expect(progress.length).toBeLessThan(150);
    // One notice covers the whole outage: it was merged while waiting, not repeated.
    const notices = sub.messages.filter((m) => m.topic === 'furrow/gw-t/outbox/dropped');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.body).toMatchObject({ type: 'outbox.dropped', data: { state: 0, progress: 150 - progress.length } });
  });

  it('reconnects with new settings when the config is reloaded, and refuses a reload with a missing file', async () => {
    const t = await startTelemetry('');
    await waitFor('gateway connected', () => t.state.mqtt.connected);
    const publisher = t.frontends.find((s) => s.name === 'mqtt')!;
    const sub = await consumer(broker.url, 'farm/#', { clean: true, properties: {} });
    closers.push(() => sub.client.endAsync(true));
    const previous = ctx.config;
    const mutable = ctx as { config: typeof previous };
    mutable.config = { ...previous, mqtt: { ...previous.mqtt!, passwordFile: 'no-such-file' } };
    await expect(publisher.reload!(mutable.config)).rejects.toThrow(/mqtt\.passwordFile: cannot read/);
    expect(t.state.mqtt.connected).toBe(true);
    mutable.config = { ...previous, mqtt: { ...previous.mqtt!, topicPrefix: 'farm' } };
    await publisher.reload!(mutable.config);
    await waitFor('reconnected', () => t.state.mqtt.connected);
    ctx.events.emit('rollout.state', { rolloutId: 'spring', state: 'halted', reason: 'failures' });
    await waitFor('event under the new prefix', () => sub.messages.some((m) => m.topic === 'farm/gw-t/rollouts/spring/state'));
  });

  it('moves past an event the broker refuses by ACL instead of blocking everything after it', async () => {
    await broker.stop();
    const aclDir = join(dir, 'acl');
    mkdirSync(aclDir);
    writeFileSync(join(aclDir, 'acl'), 'topic readwrite furrow/gw-t/#\ntopic deny furrow/gw-t/releases\n');
    broker = await Mosquitto.start(aclDir, { persistent: false, lines: [`acl_file ${join(aclDir, 'acl')}`] });
    const sub = await consumer(broker.url, 'furrow/gw-t/#', { clean: true, properties: {} });
    closers.push(() => sub.client.endAsync(true));
    const t = await startTelemetry('');
    await waitFor('gateway connected', () => t.state.mqtt.connected);
    ctx.events.emit('device.report', { deviceId: 'probe-1', status: 'updated', reason: 'before' });
    ctx.events.emit('release.added', { product: 'soil-probe', version: '9.9.9', sha256: 'ab'.repeat(32), size: 1 });
    ctx.events.emit('device.report', { deviceId: 'probe-1', status: 'updated', reason: 'after' });
    await waitFor('outbox drained', () => new Outbox(db).depth() === 0);
    await waitFor('both reports', () => sub.messages.filter((m) => m.topic.endsWith('/result')).length === 2);
    expect(sub.messages.some((m) => m.topic.endsWith('/releases'))).toBe(false);
    expect(t.state.mqtt.rejected).toBe(1);
  });

  it('marks the gateway online (retained) while connected and offline when it stops', async () => {
    const t = await startTelemetry('');
    await waitFor('gateway connected', () => t.state.mqtt.connected);
    const read = async () => {
      const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
      const got = new Promise<Record<string, unknown>>((resolve) => c.once('message', (_t, p) => resolve(JSON.parse(p.toString()))));
      await c.subscribeAsync('furrow/gw-t/status', { qos: 1 });
      const v = await got;
      await c.endAsync();
      return v;
    };
    expect(await read()).toMatchObject({ state: 'online', gateway: 'gw-t' });
    for (const s of [...t.frontends].reverse()) await s.stop();
    await t.recorder.stop();
    tel = undefined;
    expect(await read()).toMatchObject({ state: 'offline', reason: 'stopped' });
  });
});
