/**
 * Topic layout, one place: `<prefix>/<gateway>/...`. Ids taken from devices or operators become single
 * topic levels, so characters with meaning in MQTT (`/`, `+`, `#`) or outside a safe set are %-escaped.
 */
export function topicSegment(id: string): string {
  if (id === '') return '%00';
  return id.replace(/[^A-Za-z0-9._:-]/g, (c) => {
    const bytes = Buffer.from(c, 'utf8');
    return [...bytes].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  });
}

export class Topics {
  readonly base: string;

  constructor(prefix: string, gatewayId: string) {
    this.base = `${prefix.replace(/\/+$/, '')}/${topicSegment(gatewayId)}`;
  }

  /** Retained: `{"state":"online"|"offline"}`; the offline value is also the last will. */
  status(): string {
    return `${this.base}/status`;
  }
  deviceState(deviceId: string): string {
    return `${this.base}/devices/${topicSegment(deviceId)}/state`;
  }
  deviceTransfer(deviceId: string): string {
    return `${this.base}/devices/${topicSegment(deviceId)}/transfer`;
  }
  deviceResult(deviceId: string): string {
    return `${this.base}/devices/${topicSegment(deviceId)}/result`;
  }
  rolloutState(rolloutId: string): string {
    return `${this.base}/rollouts/${topicSegment(rolloutId)}/state`;
  }
  rolloutProgress(rolloutId: string): string {
    return `${this.base}/rollouts/${topicSegment(rolloutId)}/progress`;
  }
  releases(): string {
    return `${this.base}/releases`;
  }
  modem(): string {
    return `${this.base}/modem`;
  }
  outboxDropped(): string {
    return `${this.base}/outbox/dropped`;
  }
  commands(): string {
    return `${this.base}/cmd`;
  }
  replies(): string {
    return `${this.base}/cmd/reply`;
  }
}
