import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { type StoreSpec, parseS3Url } from '../tiles/index.ts';

/** Everything configurable, read once from the environment (and CLI flags), validated, frozen. */
const ConfigSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  host: z.string().default('0.0.0.0'),
  dataDir: z.string().default('./data'),
  /**
   * Where slides are stored: empty = `<dataDir>/slides`; `s3://bucket/prefix` = an S3-compatible
   * bucket (staging still in `<dataDir>/tmp`).
   */
  store: z
    .string()
    .default('')
    .refine(
      (v) => v === '' || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v),
      'expected s3://bucket/prefix',
    ),
  /** http(s)://host:port of an S3-compatible server (Ceph RGW, MinIO); empty = AWS. */
  s3Endpoint: z.string().default(''),
  s3Region: z.string().default('us-east-1'),
  /** Empty: the AWS SDK's usual chain (profiles, instance roles). */
  s3AccessKeyId: z.string().default(''),
  s3SecretAccessKey: z.string().default(''),
  /** Bytes of slide.tif ranges from the bucket kept in memory per process (MiB). */
  s3CacheMb: z.coerce.number().int().min(0).max(65536).default(256),
  /** postgres://… to use PostgreSQL; empty = SQLite in the data folder. */
  databaseUrl: z.string().default(''),
  tileSize: z.coerce
    .number()
    .int()
    .refine((v) => v === 256 || v === 512, 'tile size must be 256 or 512')
    // 512: a browser fetches six tiles at a time from one server over HTTP/1.1, and a 1920 x 1080
    // field of view is ~17 tiles of 512 against ~45-110 of 256 (bench:viewer).
    .default(512),
  jpegQuality: z.coerce.number().int().min(50).max(100).default(92),
  maxUploadBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * 1024 ** 3),
  ingestConcurrency: z.coerce.number().int().min(1).max(16).default(1),
  ingestTimeoutSeconds: z.coerce
    .number()
    .int()
    .min(0)
    .default(6 * 3600),
  sharpConcurrency: z.coerce.number().int().min(1).max(64).default(Math.max(2, os.availableParallelism())),
  /**
   * Comma-separated origins the API answers cross-origin; empty = none. Deep Zoom and IIIF routes
   * answer every origin whatever this says; `*` is refused, as the API must name its origins.
   */
  corsOrigins: z
    .string()
    .default('')
    .refine(
      (v) => !v.split(',').some((o) => o.trim() === '*'),
      "'*' is not allowed: Deep Zoom and IIIF routes answer every origin already; list the origins the API should answer",
    ),
  /** Public base URL (for IIIF ids) when behind a proxy; empty = from the request. */
  publicUrl: z.string().default(''),
  /** Bytes of rendered tiles / images kept in memory (MiB). */
  tileCacheMb: z.coerce.number().int().min(0).max(65536).default(256),
  /** sharp renders (IIIF, edge tiles, thumbnails) at once; default in loadConfig. */
  renderConcurrency: z.coerce.number().int().min(1).max(64),
  /** Renders waiting, all users together; beyond it 503 SERVER_BUSY with Retry-After. */
  renderQueue: z.coerce.number().int().min(0).max(100_000).default(256),
  /** Renders waiting for one user; beyond it that user gets 503 SERVER_BUSY. */
  renderQueuePerUser: z.coerce.number().int().min(0).max(100_000).default(64),
  /** Largest IIIF image (info.json maxWidth / maxHeight / maxArea). */
  iiifMaxWidth: z.coerce.number().int().min(1).max(65_535).default(8192),
  iiifMaxHeight: z.coerce.number().int().min(1).max(65_535).default(8192),
  iiifMaxArea: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .default(4096 * 4096),
  /** How many times its region's size (per side) an upscaled (^) IIIF image may be. */
  iiifMaxUpscale: z.coerce.number().min(1).max(64).default(2),
  /** Express 'trust proxy' setting: hops of reverse proxies whose X-Forwarded-* headers count. */
  trustProxy: z.coerce.number().int().min(0).max(10).default(0),
  /** Server processes sharing the port (node:cluster); 1 = a single process. */
  workers: z.coerce.number().int().min(1).max(64).default(1),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** redis://… to share review-session rooms between server processes; empty = one process. */
  redisUrl: z.string().default(''),
  /** Prefix of this deployment's keys in Redis (several deployments may share one Redis). */
  redisPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)')
    .default('tessera'),
  /**
   * With Redis, whether `tessera serve` also takes ingest jobs from the shared queue (false: only
   * `tessera worker` nodes ingest).
   */
  serveIngest: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  /** With Redis, a job held by a worker that stopped answering this long goes to another. */
  jobLockSeconds: z.coerce.number().int().min(1).max(3600).default(30),
  /** With Redis, tries per ingest job when the failure is not the file's. */
  jobAttempts: z.coerce.number().int().min(1).max(10).default(3),
  /** Failed sign-ins allowed per account per 15 minutes; then it is refused from every address. */
  loginAttemptsPer15Min: z.coerce.number().int().min(1).max(10_000).default(10),
  /**
   * Failed sign-ins per client address per 15 minutes, past which that address is refused for
   * accounts that are failing too (3 or more); others still sign in (a hospital's shared address).
   */
  loginFailuresPerAddress15Min: z.coerce.number().int().min(1).max(100_000).default(30),
  /**
   * DICOMweb archives (PACS, VNA) slides may be imported from, `name=url,name=url`: the only
   * addresses an import asks the server to fetch from. Credentials may sit in the URL
   * (`https://user:password@host/dicom-web`, sent as Basic authentication).
   */
  dicomwebSources: z
    .string()
    .default('')
    .transform((v, c) => {
      try {
        return parseDicomwebSources(v);
      } catch (e) {
        c.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /**
   * A series pushed over STOW-RS (possibly in several requests) is converted once no instance of it
   * has arrived for this long.
   */
  stowSettleSeconds: z.coerce.number().min(0).max(3600).default(10),
  /** Mark the session cookie Secure even when the request reached us over plain HTTP (behind TLS). */
  secureCookies: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>> & { readonly dbFile: string };

const ENV: Record<keyof z.infer<typeof ConfigSchema>, string> = {
  port: 'TESSERA_PORT',
  host: 'TESSERA_HOST',
  dataDir: 'TESSERA_DATA',
  store: 'TESSERA_STORE',
  s3Endpoint: 'TESSERA_S3_ENDPOINT',
  s3Region: 'AWS_REGION',
  s3AccessKeyId: 'AWS_ACCESS_KEY_ID',
  s3SecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  s3CacheMb: 'TESSERA_S3_CACHE_MB',
  databaseUrl: 'DATABASE_URL',
  tileSize: 'TESSERA_TILE_SIZE',
  jpegQuality: 'TESSERA_JPEG_QUALITY',
  maxUploadBytes: 'TESSERA_MAX_UPLOAD_BYTES',
  ingestConcurrency: 'TESSERA_INGEST_CONCURRENCY',
  ingestTimeoutSeconds: 'TESSERA_INGEST_TIMEOUT_SECONDS',
  sharpConcurrency: 'TESSERA_SHARP_CONCURRENCY',
  corsOrigins: 'TESSERA_CORS_ORIGINS',
  publicUrl: 'TESSERA_PUBLIC_URL',
  logLevel: 'TESSERA_LOG_LEVEL',
  tileCacheMb: 'TESSERA_TILE_CACHE_MB',
  renderConcurrency: 'TESSERA_RENDER_CONCURRENCY',
  renderQueue: 'TESSERA_RENDER_QUEUE',
  renderQueuePerUser: 'TESSERA_RENDER_QUEUE_PER_USER',
  iiifMaxWidth: 'TESSERA_IIIF_MAX_WIDTH',
  iiifMaxHeight: 'TESSERA_IIIF_MAX_HEIGHT',
  iiifMaxArea: 'TESSERA_IIIF_MAX_AREA',
  iiifMaxUpscale: 'TESSERA_IIIF_MAX_UPSCALE',
  workers: 'TESSERA_WORKERS',
  trustProxy: 'TESSERA_TRUST_PROXY',
  loginAttemptsPer15Min: 'TESSERA_LOGIN_ATTEMPTS_PER_15_MIN',
  loginFailuresPerAddress15Min: 'TESSERA_LOGIN_ADDRESS_FAILURES_PER_15_MIN',
  redisUrl: 'TESSERA_REDIS_URL',
  redisPrefix: 'TESSERA_REDIS_PREFIX',
  serveIngest: 'TESSERA_SERVE_INGEST',
  jobLockSeconds: 'TESSERA_JOB_LOCK_SECONDS',
  jobAttempts: 'TESSERA_JOB_ATTEMPTS',
  secureCookies: 'TESSERA_SECURE_COOKIES',
  dicomwebSources: 'TESSERA_DICOMWEB_SOURCES',
  stowSettleSeconds: 'TESSERA_STOW_SETTLE_SECONDS',
};

/** Read when the variable of ENV is unset: the names other S3 tools use. */
const ENV_FALLBACK: Partial<Record<keyof typeof ENV, string>> = {
  s3Endpoint: 'AWS_ENDPOINT_URL',
  s3Region: 'AWS_DEFAULT_REGION',
};

export class ConfigError extends Error {}

/**
 * Build the configuration: defaults, then environment, then explicit overrides (CLI flags, tests).
 * The only place that reads process.env.
 */
export function loadConfig(
  overrides: Partial<Record<keyof typeof ENV, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV)) {
    const fallback = ENV_FALLBACK[key as keyof typeof ENV];
    const v = env[name] || (fallback ? env[fallback] : undefined);
    if (v !== undefined && v !== '') raw[key] = v;
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) raw[k] = v;
  // Each sharp render holds one of libuv's threads (UV_THREADPOOL_SIZE, 4) until it ends, and stored
  // tile reads and password hashing need that pool too: the renders, plus the one more slot kept for
  // small renders, leave at least one thread free.
  const uvThreads = Number(env.UV_THREADPOOL_SIZE) || 4;
  const renderMax = Math.max(1, uvThreads - 2);
  raw.renderConcurrency ??= Math.min(renderMax, os.availableParallelism());
  const parsed = ConfigSchema.refine((c) => c.renderConcurrency <= renderMax, {
    path: ['renderConcurrency'],
    message: `must be at most ${renderMax}, two below UV_THREADPOOL_SIZE (${uvThreads}): raise UV_THREADPOOL_SIZE with it, or stored tiles wait for renders`,
  }).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const name = ENV[key as keyof typeof ENV] ?? key;
    throw new ConfigError(`invalid configuration ${name}: ${issue.message}`);
  }
  const dataDir = path.resolve(parsed.data.dataDir);
  return Object.freeze({ ...parsed.data, dataDir, dbFile: path.join(dataDir, 'tessera.db') });
}

/** The slide store the configuration names, as plain data (converter processes open the same). */
export function storeSpec(config: Config): StoreSpec {
  const s3 = parseS3Url(config.store);
  if (!s3) return { kind: 'local', root: config.dataDir };
  return {
    kind: 's3',
    ...s3,
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
    region: config.s3Region,
    ...(config.s3AccessKeyId && config.s3SecretAccessKey
      ? { credentials: { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey } }
      : {}),
    tmpDir: path.join(config.dataDir, 'tmp'),
    cacheBytes: config.s3CacheMb * 1024 * 1024,
  };
}

/** A DICOMweb archive an administrator allows imports from. */
export interface DicomwebSource {
  name: string;
  /** The DICOMweb root (no trailing slash, no credentials). */
  url: string;
  /** Basic authentication, from the URL's user information. */
  basic: { user: string; password: string } | null;
}

/** `name=url,name=url` → sources; throws with one line naming what is wrong. */
export function parseDicomwebSources(raw: string): DicomwebSource[] {
  const out: DicomwebSource[] = [];
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq).trim() : '';
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw new Error(
        `expected name=url pairs (a name is letters, digits, _ . -) but received ${JSON.stringify(item.slice(0, 80))}`,
      );
    let u: URL;
    try {
      u = new URL(item.slice(eq + 1).trim());
    } catch {
      throw new Error(`source ${name}: not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(`source ${name}: expected an http(s) URL`);
    if (u.search || u.hash) throw new Error(`source ${name}: the DICOMweb root takes no query or fragment`);
    if (out.some((s) => s.name === name)) throw new Error(`source ${name} is named twice`);
    const basic = u.username
      ? { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
      : null;
    u.username = '';
    u.password = '';
    out.push({ name, url: u.toString().replace(/\/+$/, ''), basic });
  }
  return out;
}
