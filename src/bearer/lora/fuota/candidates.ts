import type { Db } from '../../../store/database.ts';
import { DeviceRepo } from '../../../store/devices.ts';
import { RolloutRepo } from '../../../store/rollouts.ts';
import type { LoraConfig } from '../config.ts';
import { MulticastRepo } from './store.ts';

/** A furrow device that can join a multicast session: configured under lora.devices with its GenAppKey. */
export interface LoraIdentity {
  deviceId: string;
  devEui: string;
  genAppKey: Buffer | undefined;
}

/** lora.devices by furrow device id (`deviceId`, default the DevEUI). */
export function loraIdentities(cfg: LoraConfig): Map<string, LoraIdentity> {
  const out = new Map<string, LoraIdentity>();
  for (const [eui, d] of Object.entries(cfg.devices)) {
    const deviceId = d.deviceId ?? eui;
    out.set(deviceId, { deviceId, devEui: eui, genAppKey: d.genAppKey ? Buffer.from(d.genAppKey, 'hex') : undefined });
  }
  return out;
}

export interface CandidateGroup {
  fromSha256: string;
  members: Array<{ deviceId: string; devEui: string }>;
}

/**
 * The patch format one broadcast to a group may use: the lowest any member decodes (check-in key 10),
 * and never above `delta.formatVersion`.
 */
export function groupFormatCap(db: Db, g: CandidateGroup, formatVersion: number): number {
  return Math.min(new DeviceRepo(db).lowestPatchFormat(g.members.map((m) => m.deviceId)), formatVersion);
}

export interface Candidates {
  /** Devices of the wave still waiting (pending) that are LoRa devices at all. */
  lora: number;
  groups: CandidateGroup[];
  /** LoRa devices left to unicast, with why. */
  unicast: Array<{ deviceId: string; reason: string }>;
}

/**
 * LoRa devices of a rollout wave that could share a multicast session, grouped by the image they run
 * (one session sends one patch, from one base). Only devices the rollout has not offered anything yet
 * (`pending`) count; a device already in a live session of this rollout, or failed over from one,
 * stays out, so a failed device is not pulled into multicast again and again.
 */
export function multicastCandidates(db: Db, cfg: LoraConfig, rolloutId: string, wave: number, releaseSha256: string): Candidates {
  const ids = loraIdentities(cfg);
  const devices = new DeviceRepo(db);
  const mc = new MulticastRepo(db);
  const taken = mc.deviceIdsIn(rolloutId, ['queued', 'setup', 'broadcast', 'status', 'repair']);
  const failedOver = new Set(
    (db.prepare("SELECT m.device_id FROM lora_mc_members m JOIN lora_mc_sessions s ON s.id = m.session_id WHERE s.rollout_id = ? AND m.state = 'failed'").all(rolloutId) as Array<{ device_id: string }>).map((r) => r.device_id),
  );
  const byBase = new Map<string, CandidateGroup>();
  const unicast: Candidates['unicast'] = [];
  let lora = 0;
  for (const m of new RolloutRepo(db).members(rolloutId, { wave, states: ['pending'] })) {
    const id = ids.get(m.deviceId);
    if (!id) continue;
    lora++;
    if (taken.has(m.deviceId)) continue;
    const running = devices.get(m.deviceId)?.runningSha256;
    let reason: string | undefined;
    if (!id.genAppKey) reason = `no genAppKey under lora.devices.${id.devEui}`;
    else if (failedOver.has(m.deviceId)) reason = 'failed over from an earlier multicast session';
    else if (!running) reason = 'running image unknown (no check-in yet)';
    else if (running === releaseSha256) reason = 'already runs the release';
    if (reason) {
      unicast.push({ deviceId: m.deviceId, reason });
      continue;
    }
    const g = byBase.get(running!) ?? { fromSha256: running!, members: [] };
    g.members.push({ deviceId: m.deviceId, devEui: id.devEui });
    byBase.set(running!, g);
  }
  const groups = [...byBase.values()].sort((a, b) => b.members.length - a.members.length);
  return { lora, groups, unicast };
}
