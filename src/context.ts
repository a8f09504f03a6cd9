import type { Clock } from './clock.ts';
import type { Config } from './config/index.ts';
import type { EventBus } from './events.ts';
import type { Logger } from './log.ts';
import type { BlobStore } from './release/blob-store.ts';
import type { Db } from './store/database.ts';

/** What the composition root hands every module. Modules take a child logger: `ctx.log.child({ module })`. */
export interface DaemonContext {
  /** The config in force; replaced on reload, so read it when needed instead of caching fields. */
  readonly config: Config;
  readonly configFile: string;
  readonly log: Logger;
  readonly db: Db;
  readonly blobs: BlobStore;
  readonly events: EventBus;
  readonly clock: Clock;
}
