import type { DaemonContext } from '../context.ts';
import type { Service } from '../service.ts';
import { Outbox } from '../store/outbox.ts';
import { CommandProcessor, rolloutEngineMissing, type CommandHandlers } from './commands.ts';
import { OpsHttpServer } from './http.ts';
import { TelemetryMetrics } from './metrics.ts';
import { MqttPublisher } from './publisher.ts';
import { TelemetryRecorder } from './recorder.ts';
import { SystemdNotifier } from './sd-notify.ts';
import { TelemetryState } from './state.ts';
import { collectStatus, type StatusSnapshot } from './status.ts';
import { Topics } from './topics.ts';

export { ALLOWED_COMMANDS, commandSchema, rolloutEngineMissing, type CommandHandlers, type CommandReply } from './commands.ts';
export { collectStatus, type StatusSnapshot } from './status.ts';
export { renderStatus } from './status-render.ts';
export { Topics, topicSegment } from './topics.ts';

/**
 * Telemetry for the composition root. `recorder` goes FIRST in the service list (it must hear events from
 * every other service's start and stop), `frontends` go LAST (they report on services already running).
 * `setCommandHandlers` plugs the rollout engine into MQTT commands.
 */
export interface Telemetry {
  recorder: Service;
  frontends: Service[];
  state: TelemetryState;
  http: OpsHttpServer;
  status(): StatusSnapshot;
  setCommandHandlers(handlers: CommandHandlers): void;
}

export function createTelemetry(ctx: DaemonContext): Telemetry {
  const log = ctx.log.child({ module: 'telemetry' });
  const state = new TelemetryState(ctx.clock.now());
  const outbox = new Outbox(ctx.db);
  const metrics = new TelemetryMetrics(ctx.db, outbox, state, () => ctx.clock.now());
  let handlers: CommandHandlers = rolloutEngineMissing;
  const status = () => collectStatus(ctx.db, { gatewayId: ctx.config.gateway.id, now: ctx.clock.now(), mqttEnabled: ctx.config.mqtt !== null, live: state });
  const commands = new CommandProcessor(() => handlers, status);
  const mqttCfg = ctx.config.mqtt;
  const publisher = mqttCfg
    ? new MqttPublisher({
        log: ctx.log.child({ module: 'mqtt' }),
        clock: ctx.clock,
        outbox,
        state,
        commands,
        settings: () => {
          // A reload may not remove MQTT from a running daemon (the publisher was built for it); keep the old.
          const mqtt = ctx.config.mqtt ?? mqttCfg;
          return { mqtt, gatewayId: ctx.config.gateway.id, configFile: ctx.configFile, topics: new Topics(mqtt.topicPrefix, ctx.config.gateway.id) };
        },
      })
    : undefined;
  const recorder = new TelemetryRecorder(ctx, outbox, state, metrics, () => publisher?.notify());
  const http = new OpsHttpServer({ log, db: ctx.db, metrics, state, status, config: () => ctx.config.metrics });
  const frontends: Service[] = [http, ...(publisher ? [publisher] : []), new SystemdNotifier(ctx, log)];
  return {
    recorder,
    frontends,
    state,
    http,
    status,
    setCommandHandlers(h) {
      handlers = h;
    },
  };
}
