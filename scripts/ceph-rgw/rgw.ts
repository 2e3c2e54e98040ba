/**
 * A throwaway one-node Ceph RADOS Gateway (real S3) for tests and benchmarks, started with
 * start-rgw.sh beside this file (Debian packages ceph-mon ceph-osd radosgw ceph-common; .ci/run
 * installs them) and stopped with stop-rgw.sh.
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface Rgw {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The cluster's folder (stop-rgw.sh's argument). */
  dir: string;
  /** Kill the daemons started for it and remove its folder. */
  stop(): Promise<void>;
}

/** Commands start-rgw.sh needs that are not on PATH (empty: it can run). */
export function rgwMissingCommands(): string[] {
  const need = [
    'ceph-mon',
    'ceph-osd',
    'radosgw',
    'radosgw-admin',
    'ceph',
    'ceph-authtool',
    'monmaptool',
    'uuidgen',
    'curl',
  ];
  return need.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
}

/** Start a gateway (~5 s); rejects with the script's last log lines when it cannot. */
export function startRgw(opts: { timeoutMs?: number } = {}): Promise<Rgw> {
  return new Promise((resolve, reject) => {
    execFile(
      path.join(HERE, 'start-rgw.sh'),
      [],
      { timeout: opts.timeoutMs ?? 180_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(`start-rgw.sh failed: ${err.message}\n${stderr.split('\n').slice(-20).join('\n')}`),
          );
          return;
        }
        const env: Record<string, string> = {};
        for (const m of stdout.matchAll(/^export ([A-Z_0-9]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
        const dir = env.CEPH_RGW_DIR;
        if (!dir || !env.S3_ENDPOINT || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) {
          reject(new Error(`start-rgw.sh printed no endpoint: ${stdout.slice(0, 500)}`));
          return;
        }
        resolve({
          endpoint: env.S3_ENDPOINT,
          region: env.AWS_REGION ?? 'us-east-1',
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          dir,
          stop: () =>
            new Promise<void>((done) => {
              execFile(path.join(HERE, 'stop-rgw.sh'), [dir], { timeout: 60_000 }, () => done());
            }),
        });
      },
    );
  });
}

/** Create a bucket on the gateway (path-style, as on-premise servers want). */
export async function createBucket(rgw: Rgw, bucket: string): Promise<void> {
  // As in tiles/store/s3.ts: the SDK version is pinned to one that runs on Node 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}
