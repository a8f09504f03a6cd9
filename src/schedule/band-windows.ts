import type { BearerModelConfig, LoraBearerConfig, ScheduleConfig } from './config.ts';
import { loraLimits } from './bearer-model.ts';
import { SlidingWindow } from './token-bucket.ts';

/**
 * The regulation limits the gateway's transmitter, not a bearer: every LoRa bearer on one sub-band
 * (e.g. unicast RX2 and the multicast session, both on g3) spends from one hourly window, at the
 * strictest limit among them. The history of `previous` (the bearers before a reload) carries over, so
 * a reload cannot mint airtime. Returns the window for each LoRa bearer model of `config`.
 */
export function bandWindows(config: ScheduleConfig, previous: Iterable<{ model: BearerModelConfig; window?: SlidingWindow }>): (model: LoraBearerConfig) => SlidingWindow {
  const bandOf = (m: LoraBearerConfig) => (m.region === 'eu868' ? `eu868/${m.subBand}` : m.region);
  const limits = new Map<string, { windowMs: number; limit: number }>();
  for (const model of Object.values(config.bearers)) {
    if (model.kind !== 'lora') continue;
    const lim = loraLimits(model);
    const cur = limits.get(bandOf(model));
    limits.set(bandOf(model), { windowMs: lim.windowMs, limit: Math.min(cur?.limit ?? Infinity, lim.windowLimitMs) });
  }
  const before = new Map<string, SlidingWindow>();
  for (const st of previous) if (st.model.kind === 'lora' && st.window) before.set(bandOf(st.model), st.window);
  const windows = new Map<string, SlidingWindow>();
  return (model) => {
    const band = bandOf(model);
    let w = windows.get(band);
    if (!w) {
      const { windowMs, limit } = limits.get(band)!;
      const old = before.get(band);
      w = old && old.windowMs === windowMs ? old.withLimit(limit) : new SlidingWindow(windowMs, limit);
      windows.set(band, w);
    }
    return w;
  };
}
