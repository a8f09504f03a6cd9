/**
 * mosquitto (Debian package `mosquitto`) on a free loopback port for the LoRa tests: the telemetry tests'
 * launcher without persistence, with Nagle off so frame round trips are not delayed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mosquitto } from '../integration/mqtt-broker.ts';

export interface Broker {
  url: string;
  stop(): Promise<void>;
}

/** `port`: listen there (a test that starts its client before the broker); else a free one. */
export async function startMosquitto(port?: number): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'furrow-lora-mqtt-'));
  const broker = await Mosquitto.start(dir, { persistent: false, lines: ['set_tcp_nodelay true'], ...(port === undefined ? {} : { port }) });
  return {
    url: broker.url,
    async stop() {
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
