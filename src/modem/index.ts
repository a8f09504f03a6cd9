export { modemConfigSchema, type ModemConfig } from './config.ts';
export { ModemService } from './service.ts';
export { QuectelDriver, type ModemState } from './driver.ts';
export type { ModemHealth } from './health.ts';
export { MAX_DATAGRAM, type Peer } from './datagrams.ts';
export { loadStatus } from './status-store.ts';
