import type { Config } from '../config/index.ts';
import { InputError } from '../errors.ts';
import type { Db } from '../store/database.ts';
import { listTransfers, type TransferRow } from '../store/transfers.ts';
import { retainedClearing } from './retained.ts';

export interface DeviceRemoval {
  deviceId: string;
  /** Transfers that were still active (only with force). */
  activeTransfers: TransferRow[];
  /** Rollout memberships not yet finished, now cancelled ("device removed"). */
  cancelledMemberships: number;
  /** Retained topics queued for clearing (empty when MQTT is not configured). */
  clearedTopics: string[];
}

/**
 * Removes a device: its row, transfers and delivery tokens (ON DELETE CASCADE), unfinished rollout
 * memberships become `cancelled` (the rollout's history keeps the row), and its retained MQTT topics are
 * cleared through the outbox. Refused while a transfer is active unless forced: the device is mid-download.
 */
export function removeDevice(db: Db, config: Config, id: string, opts: { force: boolean; now: number }): DeviceRemoval {
  return db.transaction(() => {
    const exists = db.prepare('SELECT 1 FROM devices WHERE id = ?').get(id);
    if (!exists) throw new InputError('DEVICE_UNKNOWN', `no device ${JSON.stringify(id)}`, { hint: 'list devices with `furrow devices list`' });
    const active = listTransfers(db, { deviceId: id, state: 'active' });
    if (active.length > 0 && !opts.force) {
      const t = active[0]!;
      throw new InputError('DEVICE_BUSY', `device ${id} is downloading (patch ${t.patchId.slice(0, 12)}, ${t.offset} of ${t.size} bytes)`, {
        hint: 'wait for the transfer to finish (furrow devices show ' + id + '), or add --force to remove it anyway',
      });
    }
    const cancelled = db
      .prepare(
        `UPDATE rollout_devices SET state = 'cancelled', reason = 'device removed', updated_at = ?
         WHERE device_id = ? AND state IN ('pending', 'offered', 'downloading', 'applied')`,
      )
      .run(opts.now, id).changes;
    db.prepare('DELETE FROM devices WHERE id = ?').run(id);
    const mqtt = retainedClearing(db, config);
    const clearedTopics = mqtt ? [mqtt.topics.deviceState(id), mqtt.topics.deviceResult(id)] : [];
    mqtt?.clear(clearedTopics, opts.now);
    return { deviceId: id, activeTransfers: active, cancelledMemberships: cancelled, clearedTopics };
  })();
}
