export { openDatabase, migrate, loadMigrations, schemaVersion, type Db, type Migration, type OpenOptions } from './database.ts';
export { DeviceRepo, type DeviceRow, type NewDevice } from './devices.ts';
export { ReleaseRepo, type ReleaseRow } from './releases.ts';
