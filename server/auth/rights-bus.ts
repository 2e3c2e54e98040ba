import { randomUUID } from 'node:crypto';

/** The Redis channel on which every process hears of a change of rights. */
export const RIGHTS_CHANNEL = 'tessera:rights-changed';

/** The part of a node-redis client used here (a connected client; its duplicate subscribes). */
export interface RedisPubSub {
  publish(channel: string, message: string): Promise<unknown>;
  duplicate(): RedisSubscriber;
}

interface RedisSubscriber {
  on(event: 'error', listener: (e: unknown) => void): unknown;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  close(): Promise<unknown>;
}

/**
 * "Someone's rights may have ended": a share revoked, a user disabled or changed, a token revoked, a
 * sign-out. Listeners run in the order they were added: the server context's first (it forgets the
 * cached credentials and grants), then the review hub's (it re-checks every open socket of this
 * process). With Redis, a notice also goes to every other process, and the command line publishes
 * one after changing the database (see publishRightsChanged).
 */
export class RightsBus {
  private readonly listeners: ((why: string) => void)[] = [];
  /** Tells this process's own notices apart when they come back from Redis. */
  private readonly origin = randomUUID();
  private redis: { pub: RedisPubSub; sub: RedisSubscriber } | null = null;

  constructor(private readonly log: (msg: string) => void = () => {}) {}

  on(fn: (why: string) => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  changed(why: string): void {
    this.deliver(why);
    this.redis?.pub
      .publish(RIGHTS_CHANNEL, JSON.stringify({ origin: this.origin, why }))
      .catch((e: unknown) => this.log(`rights notice not published: ${message(e)}`));
  }

  /** Hear and send notices through Redis (`client` publishes; a duplicate connection subscribes). */
  async connect(client: RedisPubSub): Promise<void> {
    const sub = client.duplicate();
    sub.on('error', (e) => this.log(`redis (rights notices): ${message(e)}`));
    await sub.connect();
    await sub.subscribe(RIGHTS_CHANNEL, (raw) => {
      let notice: { origin?: unknown; why?: unknown };
      try {
        notice = JSON.parse(raw) as typeof notice;
      } catch {
        return;
      }
      if (notice.origin !== this.origin)
        this.deliver(typeof notice.why === 'string' ? notice.why : 'changed');
    });
    this.redis = { pub: client, sub };
  }

  async close(): Promise<void> {
    const r = this.redis;
    this.redis = null;
    await r?.sub.close().catch(() => {});
  }

  private deliver(why: string): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(why);
      } catch (e) {
        this.log(`rights notice listener failed: ${message(e)}`);
      }
    }
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * For a process without a server (the command line): tell every server process through Redis that
 * rights changed. Without Redis there is nobody to tell: the servers' periodic re-check finds the
 * change in the database within a second.
 */
export async function publishRightsChanged(redisUrl: string, why: string): Promise<void> {
  if (!redisUrl) return;
  const { createClient } = await import('redis');
  const client = createClient({ url: redisUrl });
  await client.connect();
  try {
    await client.publish(RIGHTS_CHANNEL, JSON.stringify({ origin: 'cli', why }));
  } finally {
    await client.close();
  }
}
