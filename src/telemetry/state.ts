import type { FurrowEvents } from '../events.ts';

/**
 * What telemetry remembers in memory between events: the latest modem health, budgets per bearer, rollout
 * counts, and the MQTT link. Read by /metrics, /status and the status command; rebuilt from events after a
 * restart (the DB holds everything that must survive).
 */
export class TelemetryState {
  readonly startedAt: number;
  ready = false;
  modem: (FurrowEvents['modem.health'] & { at: number }) | undefined;
  readonly budgets = new Map<string, FurrowEvents['schedule.budget'] & { at: number }>();
  readonly rollouts = new Map<string, FurrowEvents['rollout.progress'] & { at: number }>();
  readonly mqtt = {
    enabled: false,
    connected: false,
    /** Wall ms of the last connect or disconnect. */
    since: 0,
    lastError: undefined as string | undefined,
    published: 0,
    /** Events the broker refused with an MQTT 5 reason code (ACL); not re-sent. */
    rejected: 0,
    commands: 0,
  };

  constructor(now: number) {
    this.startedAt = now;
  }
}
