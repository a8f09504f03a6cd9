import type { Config } from '../config/index.ts';
import type { Db } from '../store/database.ts';
import { Outbox } from '../store/outbox.ts';
import { Topics } from '../telemetry/topics.ts';

/**
 * Clears retained MQTT topics of things that are removed, through the outbox: written now, published by the
 * daemon's MQTT link when it runs (at once if it runs, on its next start otherwise). Without MQTT in the
 * config nothing was ever retained, so there is nothing to clear.
 */
export function retainedClearing(db: Db, config: Config): { topics: Topics; clear(topics: string[], now: number): void } | undefined {
  if (!config.mqtt) return undefined;
  const topics = new Topics(config.mqtt.topicPrefix, config.gateway.id);
  const outbox = new Outbox(db);
  return {
    topics,
    clear(list, now) {
      for (const t of list) outbox.clearRetained(t, now);
    },
  };
}
