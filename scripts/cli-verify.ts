import { existsSync } from 'node:fs';
import { type StoreSpec, createStore, isSlideId } from '../tiles/index.ts';
import {
  type SlideVerification,
  describeProblems,
  storedSlideIds,
  verifyStore,
} from '../tiles/store/verify.ts';
import { CliUsageError } from './cli-accounts.ts';
import { ProgressLine } from './progress.ts';

export interface VerifyCliOptions {
  json: boolean;
  /** Slides without recorded checksums fail too. */
  strict: boolean;
}

/**
 * `tessera verify [id…]`: re-hash the store's files against their manifests. Exit code 0 when every
 * slide passes, 1 when any fails; an id that is malformed or not in the store is a usage error
 * (exit 2) before anything is read, so a typo in a scheduled check is not a silent pass.
 */
export async function cmdVerify(
  dataDir: string,
  ids: string[],
  opts: VerifyCliOptions & { store?: StoreSpec },
): Promise<number> {
  const spec: StoreSpec = opts.store ?? { kind: 'local', root: dataDir };
  // A mistyped --data must not pass a periodic check with "0 slides".
  if (spec.kind === 'local' && !existsSync(spec.root))
    throw new CliUsageError(`data folder ${spec.root} does not exist`);
  for (const id of ids) {
    if (!isSlideId(id)) throw new CliUsageError(`Expected a slide id (32 hex digits) but received ${id}`);
  }
  const store = createStore(spec);
  const stored = await storedSlideIds(store);
  if (ids.length > 0) {
    const have = new Set(stored);
    const unknown = ids.find((id) => !have.has(id));
    if (unknown !== undefined) throw new CliUsageError(`no slide ${unknown} in ${store.location}`);
  }
  const list = ids.length > 0 ? [...new Set(ids)] : stored;

  const bar = new ProgressLine('verify');
  const started = Date.now();
  let failed = 0;
  let unchecked = 0;
  let bytes = 0;
  const results = await verifyStore(store, list, {
    onProgress: (p) =>
      bar.update(
        p.totalBytes > 0 ? Math.min(100, Math.floor((p.doneBytes / p.totalBytes) * 100)) : 0,
        `slide ${p.slide}/${p.slides}`,
      ),
    onSlide: (r) => {
      bar.stop();
      const fails = r.status === 'failed' || (opts.strict && r.status === 'unchecked');
      if (fails) failed++;
      if (r.status === 'unchecked') unchecked++;
      bytes += r.bytesHashed;
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...r, fails })}\n`);
      else process.stdout.write(`${line(r, fails)}\n`);
    },
  });
  bar.stop();
  if (!opts.json) {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const ok = results.filter((r) => r.status === 'ok').length;
    console.log(
      `${results.length} slide${results.length === 1 ? '' : 's'} checked (${gb(bytes)} hashed in ${secs} s): ` +
        `${ok} ok, ${failed} failed, ${unchecked} without checksums${unchecked > 0 && !opts.strict ? ' (not counted as failures; --strict counts them)' : ''}`,
    );
  }
  return failed === 0 ? 0 : 1;
}

function line(r: SlideVerification, fails: boolean): string {
  const who = r.name !== null ? `${r.id} ${r.name}` : r.id;
  if (r.status === 'ok') return `OK        ${who}`;
  if (r.status === 'unchecked' && !fails) return `UNCHECKED ${who}: ${describeProblems(r)}`;
  return `FAILED    ${who}: ${describeProblems(r)}`;
}

function gb(bytes: number): string {
  return bytes >= 1024 ** 3
    ? `${(bytes / 1024 ** 3).toFixed(2)} GiB`
    : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
