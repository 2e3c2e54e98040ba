/**
 * A real S3 server for a test file: a throwaway one-node Ceph RADOS Gateway (scripts/ceph-rgw) with
 * one bucket. Without Debian's ceph-mon ceph-osd radosgw ceph-common the tests that need it skip
 * with the apt-get line; under CI=true a describe block that fails says what is missing.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, it } from 'vitest';
import { type Rgw, createBucket, rgwMissingCommands, startRgw } from '../../scripts/ceph-rgw/rgw.ts';

export type { Rgw };

const missing = rgwMissingCommands();
const CI = process.env.CI === 'true';

/**
 * Whether a gateway can be started here. Outside CI a missing package is a warning (the tests skip);
 * in CI a test fails naming the packages.
 */
export function requireRgw(what: string): boolean {
  if (missing.length === 0) return true;
  if (CI) {
    describe(`${what} in CI`, () => {
      it('have the Ceph RADOS Gateway packages installed', () => {
        throw new Error(
          `missing commands: ${missing.join(', ')} (.ci/run installs ceph-mon ceph-osd radosgw ceph-common)`,
        );
      });
    });
  } else {
    console.warn(
      `skipping ${what}: no ${missing.join(', ')} (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)`,
    );
  }
  return false;
}

/** A gateway with `bucket` made on it (~5 s). */
export async function startRgwWithBucket(bucket: string): Promise<Rgw> {
  const rgw = await startRgw();
  try {
    await createBucket(rgw, bucket);
  } catch (e) {
    await rgw.stop();
    throw e;
  }
  return rgw;
}

/** What `tessera` reads to put its slides in the bucket: TESSERA_STORE and the AWS variables. */
export function storeEnv(rgw: Rgw, bucket: string, prefix: string): Record<string, string> {
  return {
    TESSERA_STORE: `s3://${bucket}/${prefix}`,
    AWS_ENDPOINT_URL: rgw.endpoint,
    AWS_REGION: rgw.region,
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
  };
}

/** A plain SDK client on the gateway, to look at or damage objects behind the store's back. */
export function rawS3(rgw: Rgw): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** Keys under `prefix` in `bucket`, sorted. */
export async function keysUnder(rgw: Rgw, bucket: string, prefix: string): Promise<string[]> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const s3 = rawS3(rgw);
  try {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  } finally {
    s3.destroy();
  }
}
