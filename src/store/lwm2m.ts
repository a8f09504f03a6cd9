/** LwM2M state in SQLite (migration 090): client registrations and each client's Object 5 flow. */
import type { Db } from './database.ts';

export interface Registration {
  location: string;
  endpoint: string;
  lifetime: number;
  version: string;
  binding: string;
  queueMode: boolean;
  objects: string;
  address: string;
  port: number;
  bearer: string;
  registeredAt: number;
  updatedAt: number;
  expiresAt: number;
}

interface RawReg {
  location: string;
  endpoint: string;
  lifetime: number;
  version: string;
  binding: string;
  queue_mode: number;
  objects: string;
  address: string;
  port: number;
  bearer: string;
  registered_at: number;
  updated_at: number;
  expires_at: number;
}

const reg = (r: RawReg): Registration => ({
  location: r.location,
  endpoint: r.endpoint,
  lifetime: r.lifetime,
  version: r.version,
  binding: r.binding,
  queueMode: r.queue_mode === 1,
  objects: r.objects,
  address: r.address,
  port: r.port,
  bearer: r.bearer,
  registeredAt: r.registered_at,
  updatedAt: r.updated_at,
  expiresAt: r.expires_at,
});

export type FirmwarePhase = 'uri-written' | 'downloading' | 'downloaded' | 'updating' | 'succeeded' | 'failed';

export interface FirmwareRow {
  deviceId: string;
  releaseSha256: string;
  rolloutId: string | null;
  token: string;
  phase: FirmwarePhase;
  fwState: number | null;
  fwResult: number | null;
  fromVersion: string | null;
  bytesServed: number;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

interface RawFw {
  device_id: string;
  release_sha256: string;
  rollout_id: string | null;
  token: string;
  phase: FirmwarePhase;
  fw_state: number | null;
  fw_result: number | null;
  from_version: string | null;
  bytes_served: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

const fw = (r: RawFw): FirmwareRow => ({
  deviceId: r.device_id,
  releaseSha256: r.release_sha256,
  rolloutId: r.rollout_id,
  token: r.token,
  phase: r.phase,
  fwState: r.fw_state,
  fwResult: r.fw_result,
  fromVersion: r.from_version,
  bytesServed: r.bytes_served,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class Lwm2mRepo {
  constructor(private readonly db: Db) {}

  /** Register: replaces an older registration of the same endpoint (Transport §6.2.1: a new Register supersedes it). */
  register(r: Registration): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM lwm2m_registrations WHERE endpoint = ?').run(r.endpoint);
      this.db
        .prepare(
          `INSERT INTO lwm2m_registrations (location, endpoint, lifetime, version, binding, queue_mode, objects, address, port, bearer, registered_at, updated_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.location, r.endpoint, r.lifetime, r.version, r.binding, r.queueMode ? 1 : 0, r.objects, r.address, r.port, r.bearer, r.registeredAt, r.updatedAt, r.expiresAt);
    })();
  }

  update(location: string, u: Partial<Pick<Registration, 'lifetime' | 'binding' | 'queueMode' | 'objects'>> & Pick<Registration, 'address' | 'port' | 'bearer' | 'updatedAt' | 'expiresAt'>): boolean {
    return (
      this.db
        .prepare(
          `UPDATE lwm2m_registrations SET lifetime = coalesce(?, lifetime), binding = coalesce(?, binding), queue_mode = coalesce(?, queue_mode),
             objects = coalesce(?, objects), address = ?, port = ?, bearer = ?, updated_at = ?, expires_at = ? WHERE location = ?`,
        )
        .run(u.lifetime ?? null, u.binding ?? null, u.queueMode === undefined ? null : u.queueMode ? 1 : 0, u.objects ?? null, u.address, u.port, u.bearer, u.updatedAt, u.expiresAt, location).changes === 1
    );
  }

  byLocation(location: string): Registration | undefined {
    const r = this.db.prepare('SELECT * FROM lwm2m_registrations WHERE location = ?').get(location) as RawReg | undefined;
    return r ? reg(r) : undefined;
  }

  byEndpoint(endpoint: string): Registration | undefined {
    const r = this.db.prepare('SELECT * FROM lwm2m_registrations WHERE endpoint = ?').get(endpoint) as RawReg | undefined;
    return r ? reg(r) : undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM lwm2m_registrations').get() as { n: number }).n;
  }

  list(): Registration[] {
    return (this.db.prepare('SELECT * FROM lwm2m_registrations ORDER BY endpoint').all() as RawReg[]).map(reg);
  }

  remove(location: string): boolean {
    return this.db.prepare('DELETE FROM lwm2m_registrations WHERE location = ?').run(location).changes === 1;
  }

  /** Deletes registrations whose lifetime ran out; returns their endpoints. */
  expire(now: number): string[] {
    const rows = this.db.prepare('SELECT endpoint FROM lwm2m_registrations WHERE expires_at <= ?').all(now) as Array<{ endpoint: string }>;
    if (rows.length > 0) this.db.prepare('DELETE FROM lwm2m_registrations WHERE expires_at <= ?').run(now);
    return rows.map((r) => r.endpoint);
  }

  firmware(deviceId: string): FirmwareRow | undefined {
    const r = this.db.prepare('SELECT * FROM lwm2m_firmware WHERE device_id = ?').get(deviceId) as RawFw | undefined;
    return r ? fw(r) : undefined;
  }

  firmwareByToken(token: string): FirmwareRow | undefined {
    const r = this.db.prepare('SELECT * FROM lwm2m_firmware WHERE token = ?').get(token) as RawFw | undefined;
    return r ? fw(r) : undefined;
  }

  startFirmware(f: Pick<FirmwareRow, 'deviceId' | 'releaseSha256' | 'rolloutId' | 'token' | 'fromVersion'>, now: number): void {
    this.db
      .prepare(
        `INSERT INTO lwm2m_firmware (device_id, release_sha256, rollout_id, token, phase, from_version, created_at, updated_at) VALUES (?, ?, ?, ?, 'uri-written', ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET release_sha256 = excluded.release_sha256, rollout_id = excluded.rollout_id, token = excluded.token,
           phase = 'uri-written', fw_state = NULL, fw_result = NULL, from_version = excluded.from_version, bytes_served = 0, reason = NULL,
           created_at = excluded.created_at, updated_at = excluded.updated_at`,
      )
      .run(f.deviceId, f.releaseSha256, f.rolloutId, f.token, f.fromVersion, now, now);
  }

  setFirmware(deviceId: string, u: { phase?: FirmwarePhase; fwState?: number; fwResult?: number; reason?: string | null }, now: number): void {
    this.db
      .prepare(
        `UPDATE lwm2m_firmware SET phase = coalesce(?, phase), fw_state = coalesce(?, fw_state), fw_result = coalesce(?, fw_result),
           reason = CASE WHEN ? THEN ? ELSE reason END, updated_at = ? WHERE device_id = ?`,
      )
      .run(u.phase ?? null, u.fwState ?? null, u.fwResult ?? null, u.reason !== undefined ? 1 : 0, u.reason ?? null, now, deviceId);
  }

  addServed(token: string, bytes: number): void {
    this.db.prepare('UPDATE lwm2m_firmware SET bytes_served = bytes_served + ? WHERE token = ?').run(bytes, token);
  }
}
