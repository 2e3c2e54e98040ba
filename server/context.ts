import type { RedisClientType } from 'redis';
import type { SlideStore } from '../tiles/index.ts';
import type { TileService } from '../tiles/serve/index.ts';
import type { Config } from './config.ts';
import type { Db } from './db/index.ts';
import type { JobRepo } from './db/jobs.ts';
import type { SlideRepo } from './db/slides.ts';
import type { JobQueue } from './jobs/ingest-queue.ts';
import type { ProvisionalSlides } from './jobs/provisional.ts';
import type { Access } from './auth/access.ts';
import type { AuditLog } from './auth/audit.ts';
import type { Auth } from './auth/auth.ts';
import type { RightsBus } from './auth/rights-bus.ts';
import type { ReviewHub } from './review/hub.ts';
import type { CaseService } from './cases/service.ts';
import type { AiService } from './ai/service.ts';

/** Everything a route needs, built once by createServerContext. */
export interface ServerContext {
  config: Config;
  db: Db;
  store: SlideStore;
  slides: SlideRepo;
  jobs: JobRepo;
  queue: JobQueue;
  tiles: TileService;
  /** Slides served from their source while their store copy is made (server/jobs/provisional.ts). */
  provisional: ProvisionalSlides;
  auth: Auth;
  access: Access;
  audit: AuditLog;
  /** Notices that someone's rights may have ended (caches are forgotten, open sockets re-checked). */
  rights: RightsBus;
  /** Live review sessions; attach() it to the HTTP server to accept socket.io connections. */
  review: ReviewHub;
  cases: CaseService;
  /** AI algorithms: registry, runs on slides, results, verdicts (server/ai). */
  ai: AiService;
  log: (msg: string) => void;
  /**
   * This process's Redis connection when TESSERA_REDIS_URL is set (sign-in limits, review rooms and
   * rights notices shared by every node); null on a single node.
   */
  redis: RedisClient | null;
}

/** A connected node-redis client (as `createClient({ url })` makes it: no modules, scripts or functions). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type RedisClient = RedisClientType<{}, {}, {}, 3, {}>;
