export { configSchema, type Config } from './schema.ts';
export { loadConfig, parseConfigText, EMBEDDED_CONFIG, type LoadedConfig } from './load.ts';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
export { configJsonSchema } from './json-schema.ts';
export { discoverConfig, DISCOVERY_ORDER, SYSTEM_CONFIG, type FoundConfig } from './discover.ts';
