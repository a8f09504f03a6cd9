/**
 * Which enrolled device an HTTP request comes from: by station MAC (Arduino HTTPUpdate) or by URL
 * token (esp_https_ota). Columns devices.mac / devices.http_token (migration 080).
 */
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.ts';
import type { Db } from '../store/database.ts';

const MAC_RE = /^[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$/;

/** "aa-bb-cc-dd-ee-ff", "AABBCCDDEEFF" or "aa:bb:..." → "AA:BB:CC:DD:EE:FF" (how WiFi.macAddress() prints it); undefined if not a MAC. */
export function normaliseMac(v: string): string | undefined {
  const s = v.trim();
  if (!MAC_RE.test(s)) return undefined;
  return s.replace(/[:-]/g, '').toUpperCase().match(/../g)!.join(':');
}

/** 128 random bits, URL-safe: the path segment of an esp_https_ota device's URL. */
export function newHttpToken(): string {
  return randomBytes(16).toString('base64url');
}

export const TOKEN_RE = /^[A-Za-z0-9_-]{22}$/;

export class HttpIdentityRepo {
  constructor(private readonly db: Db) {}

  /** Sets a device's MAC and a fresh URL token; refuses a MAC another device already has. */
  enrol(deviceId: string, macInput: string): { mac: string; token: string } {
    const mac = normaliseMac(macInput);
    if (!mac) throw new InputError('BAD_ARGUMENT', `--mac ${JSON.stringify(macInput)}: expected six hex pairs like 24:0A:C4:A3:15:3C`);
    const other = this.db.prepare('SELECT id FROM devices WHERE mac = ? AND id <> ?').get(mac, deviceId) as { id: string } | undefined;
    if (other) throw new InputError('DEVICE_MAC_TAKEN', `MAC ${mac} is already enrolled as device ${other.id}`, { hint: `remove ${other.id} first or check the MAC` });
    const token = newHttpToken();
    this.db.prepare('UPDATE devices SET mac = ?, http_token = ? WHERE id = ?').run(mac, token, deviceId);
    return { mac, token };
  }

  byMac(mac: string): string | undefined {
    return (this.db.prepare('SELECT id FROM devices WHERE mac = ?').get(mac) as { id: string } | undefined)?.id;
  }

  byToken(token: string): string | undefined {
    if (!TOKEN_RE.test(token)) return undefined;
    return (this.db.prepare('SELECT id FROM devices WHERE http_token = ?').get(token) as { id: string } | undefined)?.id;
  }

  of(deviceId: string): { mac: string | null; token: string | null } | undefined {
    return this.db.prepare('SELECT mac, http_token AS token FROM devices WHERE id = ?').get(deviceId) as { mac: string | null; token: string | null } | undefined;
  }

  /** last_seen_at for a device whose running image is not in the store (no SHA-256 to record). */
  touch(deviceId: string, now: number): void {
    this.db.prepare("UPDATE devices SET last_seen_at = ?, bearer = 'http' WHERE id = ?").run(now, deviceId);
  }
}
