import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { InputError } from '../errors.ts';
import type { MqttConfig } from './config.ts';
import type { Topics } from './topics.ts';

export interface ConnectionSettings {
  url: string;
  options: IClientOptions;
}

function readSecretFile(configFile: string, setting: string, path: string): Buffer {
  const abs = isAbsolute(path) ? path : resolve(dirname(configFile), path);
  try {
    return readFileSync(abs);
  } catch (err) {
    throw new InputError('MQTT_FILE_UNREADABLE', `mqtt.${setting}: cannot read ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: `fix the path in ${configFile} (relative paths start at the config file's directory) or the file's permissions for the furrow user`,
    });
  }
}

/**
 * Client options from the config: TLS material and the password file are read here, once per connect
 * attempt, so a renewed certificate is picked up without a restart. The last will marks the gateway
 * offline (retained) when the link dies without a clean goodbye.
 */
export function connectionSettings(cfg: MqttConfig, gatewayId: string, configFile: string, topics: Topics): ConnectionSettings {
  const options: IClientOptions = {
    clientId: cfg.clientId ?? `furrow-${gatewayId}`.slice(0, 64),
    protocolVersion: 5,
    clean: true,
    keepalive: cfg.keepaliveSeconds,
    // furrow reconnects itself (with backoff) so that it, not the client library, decides what is re-sent.
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    will: {
      topic: topics.status(),
      payload: Buffer.from(JSON.stringify({ state: 'offline', gateway: gatewayId, reason: 'connection lost' })),
      qos: 1,
      retain: true,
    },
  };
  if (cfg.username !== undefined) options.username = cfg.username;
  if (cfg.password !== undefined && cfg.passwordFile !== undefined) {
    throw new InputError('MQTT_PASSWORD_TWICE', 'mqtt: both password and passwordFile are set', { hint: `keep one of them in ${configFile}` });
  }
  if (cfg.password !== undefined) options.password = cfg.password;
  if (cfg.passwordFile !== undefined) {
    options.password = readSecretFile(configFile, 'passwordFile', cfg.passwordFile).toString('utf8').split(/\r?\n/)[0]!;
  }
  if (cfg.tls) {
    if (cfg.tls.ca) options.ca = readSecretFile(configFile, 'tls.ca', cfg.tls.ca);
    if (cfg.tls.cert) options.cert = readSecretFile(configFile, 'tls.cert', cfg.tls.cert);
    if (cfg.tls.key) options.key = readSecretFile(configFile, 'tls.key', cfg.tls.key);
    if ((cfg.tls.cert === undefined) !== (cfg.tls.key === undefined)) {
      throw new InputError('MQTT_TLS_PAIR', 'mqtt.tls: cert and key must be given together', { hint: `set both or neither in ${configFile}` });
    }
    options.rejectUnauthorized = cfg.tls.rejectUnauthorized;
  }
  return { url: cfg.url, options };
}
