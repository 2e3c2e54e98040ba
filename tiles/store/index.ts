import path from 'node:path';
import { LocalSlideStore } from './local.ts';
import { S3SlideStore, type S3StoreOptions } from './s3.ts';
import type { SlideStore } from './types.ts';

export * from './types.ts';
export { LocalSlideStore, type StoreFs } from './local.ts';
export { S3SlideStore, parseS3Url, type S3StoreOptions } from './s3.ts';

/**
 * Which store to open, as plain data: the server builds it from its configuration and hands the same
 * value to its converter processes, so they publish where the server reads.
 */
export type StoreSpec = { kind: 'local'; root: string } | ({ kind: 's3' } & S3StoreOptions);

export function createStore(spec: StoreSpec): SlideStore {
  if (spec.kind === 'local') return new LocalSlideStore(spec.root);
  const { kind: _, ...opts } = spec;
  return new S3SlideStore({ ...opts, tmpDir: path.resolve(opts.tmpDir) });
}
