/**
 * The request headers of Arduino's HTTPUpdate (arduino-esp32 libraries/HTTPUpdate/src/HTTPUpdate.cpp,
 * handleUpdate: User-Agent "ESP32-http-Update", x-ESP32-STA-MAC, x-ESP32-AP-MAC, x-ESP32-free-space,
 * x-ESP32-sketch-size, x-ESP32-sketch-md5, x-ESP32-sketch-sha256, x-ESP32-chip-size,
 * x-ESP32-sdk-version, x-ESP32-mode, x-ESP32-version) and of ESP8266httpUpdate (esp8266/Arduino
 * ESP8266httpUpdate.cpp: the same with the x-ESP8266- prefix, "ESP8266-http-Update"). Node lower-cases
 * header names, so both spellings arrive as x-esp32-... / x-esp8266-....
 */
import type { IncomingMessage } from 'node:http';
import { normaliseMac } from './identity.ts';

export interface ArduinoHeaders {
  chip: 'ESP32' | 'ESP8266';
  mac: string;
  md5?: string;
  sha256?: string;
  version?: string;
  sketchSize?: number;
  freeSpace?: number;
  chipSize?: number;
  mode: 'sketch' | 'spiffs';
}

const UINT = /^\d{1,12}$/;

/** Parsed headers, or a message naming the header that is wrong (answered 400). */
export function parseArduinoHeaders(req: IncomingMessage): ArduinoHeaders | string {
  const chip = req.headers['x-esp32-sta-mac'] !== undefined ? 'ESP32' : req.headers['x-esp8266-sta-mac'] !== undefined ? 'ESP8266' : undefined;
  if (!chip) return 'missing x-ESP32-STA-MAC (or x-ESP8266-STA-MAC): this URL is for Arduino HTTPUpdate clients';
  const p = `x-${chip.toLowerCase()}-`;
  const name = (n: string) => `x-${chip}-${n}`;
  const one = (n: string): string | undefined | null => {
    const v = req.headers[p + n.toLowerCase()];
    return Array.isArray(v) ? null : v;
  };
  const out: Partial<ArduinoHeaders> & { chip: ArduinoHeaders['chip'] } = { chip };
  const rawMac = one('STA-MAC');
  const mac = typeof rawMac === 'string' ? normaliseMac(rawMac) : undefined;
  if (!mac) return `${name('STA-MAC')} must be one MAC address like 24:0A:C4:A3:15:3C`;
  out.mac = mac;
  const md5 = one('sketch-md5');
  if (md5 === null || (md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(md5))) return `${name('sketch-md5')} must be 32 hex digits`;
  if (md5) out.md5 = md5.toLowerCase();
  const sha = one('sketch-sha256');
  if (sha === null || (sha !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha))) return `${name('sketch-sha256')} must be 64 hex digits`;
  if (sha) out.sha256 = sha.toLowerCase();
  const version = one('version');
  if (version === null || (version !== undefined && version.length > 64)) return `${name('version')} must be one value of at most 64 characters`;
  if (version) out.version = version;
  for (const [h, field] of [['sketch-size', 'sketchSize'], ['free-space', 'freeSpace'], ['chip-size', 'chipSize']] as const) {
    const v = one(h);
    if (v === undefined) continue;
    if (v === null || !UINT.test(v)) return `${name(h)} must be an unsigned decimal number`;
    out[field] = Number(v);
  }
  const mode = one('mode') ?? 'sketch';
  if (mode !== 'sketch' && mode !== 'spiffs') return `${name('mode')} must be sketch or spiffs`;
  out.mode = mode;
  if (!out.md5 && !out.sha256 && !out.version) return `send ${name('sketch-md5')} (HTTPUpdate does), ${name('sketch-sha256')} or ${name('version')}: without one the gateway cannot tell what the device runs`;
  return out as ArduinoHeaders;
}
