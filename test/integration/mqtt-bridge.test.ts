/**
 * deploy/mosquitto-bridge.conf between two real mosquitto brokers on loopback: the farm's broker (the
 * repo's bridge config, only address, ports, paths and TLS file changed) bridged to a central one, with the
 * real daemon (gateway farm-north) on the farm's broker. The gateway's status arrives centrally under
 * furrow/farm-north/..., a command published centrally to furrow/farm-north/cmd reaches the daemon on the
 * local topic it subscribes to (its reply comes back out), and another gateway's command never crosses.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topics } from '../../src/telemetry/topics.ts';
import { DaemonProcess, freeTcpPort, freeUdpPort } from '../helpers/daemon.ts';
import { tempDir } from '../helpers/tmp.ts';
import { consumer, freePort, Mosquitto, waitFor } from './mqtt-broker.ts';

const BRIDGE_CONF = resolve(import.meta.dirname, '../../deploy/mosquitto-bridge.conf');
const GATEWAY = 'farm-north';

/** Replaces `from` (which must be in the file: a changed example breaks this test, not silently the bridge). */
function swap(text: string, from: string | RegExp, to: string): string {
  if (!(typeof from === 'string' ? text.includes(from) : from.test(text))) throw new Error(`deploy/mosquitto-bridge.conf no longer contains ${from}`);
  return text.replace(from, to);
}

describe('deploy/mosquitto-bridge.conf between two real brokers', () => {
  let tmp: ReturnType<typeof tempDir>;
  let central: Mosquitto;
  let farm: Mosquitto;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    tmp = tempDir('furrow-bridge-');
    const centralDir = join(tmp.dir, 'central');
    mkdirSync(centralDir);
    central = await Mosquitto.start(centralDir, { persistent: false });
    const farmPort = await freePort();
    let conf = readFileSync(BRIDGE_CONF, 'utf8');
    conf = swap(conf, 'listener 1883 127.0.0.1', `listener ${farmPort} 127.0.0.1`);
    conf = swap(conf, 'persistence_location /var/lib/mosquitto/', `persistence_location ${tmp.dir}/`);
    conf = swap(conf, 'address broker.example.net:8883', `address 127.0.0.1:${central.port}`);
    // Plain TCP on loopback here; TLS to a broker is covered by test/integration/mqtt-tls.
    conf = swap(conf, /^bridge_cafile .*$/m, '');
    if (process.getuid?.() === 0) conf += '\nuser root\n'; // else mosquitto drops to user mosquitto, who cannot write here
    const confFile = join(tmp.dir, 'farm-mosquitto.conf');
    writeFileSync(confFile, conf);
    farm = await Mosquitto.fromConfig(confFile, farmPort);

    const config = join(tmp.dir, 'furrow.yaml');
    writeFileSync(
      config,
      `gateway: { id: ${GATEWAY} }\ndata: { dir: ${JSON.stringify(join(tmp.dir, 'data'))} }\nreleases: { allowUnsigned: true }\n` +
        `coap: { host: 127.0.0.1, port: ${await freeUdpPort()} }\nmetrics: { port: ${await freeTcpPort()} }\nmqtt: { url: "${farm.url}", reconnectSeconds: 0.2 }\n`,
    );
    daemon = DaemonProcess.start(['--config', config, 'start']);
    await daemon.waitForMsg('furrow started');
  });

  afterAll(async () => {
    await daemon?.stop();
    await farm?.stop();
    await central?.stop();
    tmp?.cleanup();
  });

  it('carries status out under furrow/<gateway>/ and only this gateway\'s commands in', async () => {
    const topics = new Topics('furrow', GATEWAY);
    const atCentral = await consumer(central.url, '#', { clean: true, properties: {} });
    const atFarm = await consumer(farm.url, '#', { clean: true, properties: {} });
    await waitFor('the bridge up at the central broker', () => atCentral.messages.some((m) => m.topic === `furrow/${GATEWAY}/bridge` && String(m.body) === '1'));
    await waitFor('the gateway online at the central broker', () => atCentral.messages.some((m) => m.topic === topics.status() && m.body.state === 'online'));
    await waitFor('the daemon subscribed to its command topic', () => daemon!.lines.some((l) => l.msg === 'connected to the MQTT broker'));
    expect(atCentral.messages.filter((m) => !m.topic.startsWith(`furrow/${GATEWAY}/`)).map((m) => m.topic)).toEqual([]);

    // Another gateway's command first, then ours: ours is answered; the other never reaches the farm.
    await atCentral.client.publishAsync('furrow/farm-south/cmd', JSON.stringify({ id: 'other', command: 'status' }), { qos: 1 });
    await atCentral.client.publishAsync(topics.commands(), JSON.stringify({ id: 's1', command: 'status' }), { qos: 1 });
    await waitFor('the reply at the central broker', () => atCentral.messages.some((m) => m.topic === topics.replies() && m.body.id === 's1'));
    const reply = atCentral.messages.find((m) => m.topic === topics.replies())!;
    expect(reply.body).toMatchObject({ id: 's1', ok: true, command: 'status', result: { source: 'daemon', gateway: GATEWAY } });
    expect(atFarm.messages.filter((m) => m.topic === topics.commands()).map((m) => m.body.id)).toEqual(['s1']);
    // Give a wrongly bridged message time to arrive before saying it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect(atFarm.messages.filter((m) => m.topic.includes('farm-south'))).toEqual([]);
    expect(atCentral.messages.filter((m) => m.topic === topics.replies()).map((m) => m.body.id)).toEqual(['s1']);
    await atCentral.client.endAsync(true);
    await atFarm.client.endAsync(true);
  });
});
