import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import type { StoreSpec } from '../store/index.ts';
import type { IngestMessage, IngestRequest, PublishAnswer } from './messages.ts';

export interface IsolatedIngestOptions {
  /** The local store in this data folder, unless `store` names another. */
  dataDir: string;
  store?: StoreSpec;
  tileSize: number;
  jpegQuality: number;
  sharpConcurrency: number;
  name?: string;
  onProgress?: (percent: number, stage: string) => void;
  signal?: AbortSignal;
  /** Kill the conversion after this long (ms); 0 = no limit. */
  timeoutMs?: number;
  /**
   * Record that slide `id` is about to be published (e.g. on the job it belongs to), so a crash of
   * this process between the publication and its registration can be repaired on the next start.
   * The child publishes only once this resolves, and not at all if it throws or this process dies.
   */
  onPublish?: (id: string) => Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** `nice`, where there is one: converters run at a lower CPU priority than the server. */
const NICE = process.platform !== 'win32' && existsSync('/usr/bin/nice') ? '/usr/bin/nice' : null;

/**
 * glibc's allocator for the converter: blocks of up to 32 MB from its heap, and freed memory kept
 * for reuse rather than handed back to the kernel. A pyramid build decodes and encodes a few MB at a
 * time, a thousand times a minute; mapped and unmapped each time, those buffers were zeroed page by
 * page by the kernel: 17 s of system time of 94 s CPU on the 60,000 x 45,000 bench slide, 9 s so.
 * An explicit setting in the caller's environment wins.
 */
const CONVERTER_MALLOC = {
  MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? String(32 * 1024 ** 2),
  MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? String(128 * 1024 ** 2),
};

/**
 * Ingest in a child process. A crash (segfault in a decoder, out of memory) or a hang becomes a
 * SlideError naming what happened; the caller's process is untouched. The child dies with this
 * process (even on SIGKILL) and never publishes a slide after it is gone.
 */
export function ingestIsolated(
  input: string,
  opts: IsolatedIngestOptions,
): Promise<{ manifest: Manifest; created: boolean }> {
  const entry = path.join(here, 'worker.ts');
  const child = fork(entry, [], {
    // Behind everything interactive: a conversion takes every core it is given for minutes, and a
    // slide served from its source meanwhile (or any other) must not wait for it.
    ...(NICE
      ? { execPath: NICE, execArgv: ['-n', '10', process.execPath, '--import', 'tsx'] }
      : { execArgv: ['--import', 'tsx'] }),
    env: { ...process.env, ...CONVERTER_MALLOC },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    // A killed child is only reported once it has exited, so its staging area is no longer in use
    // (and may be swept) when the caller hears of the failure.
    let killedFor: SlideError | null = null;
    const kill = (why: SlideError): void => {
      if (killedFor) return;
      killedFor = why;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => kill(new SlideError('INGEST_FAILED', 'ingest cancelled'));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs && opts.timeoutMs > 0) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() =>
          reject(
            new SlideError(
              'INGEST_FAILED',
              `conversion took longer than ${Math.round(opts.timeoutMs! / 1000)} s and was stopped`,
            ),
          ),
        );
      }, opts.timeoutMs);
    }
    child.on('message', (raw) => {
      if (killedFor) return;
      const msg = raw as IngestMessage;
      if (msg.type === 'progress') opts.onProgress?.(msg.percent, msg.stage);
      else if (msg.type === 'publish') {
        const answer = (ok: boolean): void => {
          if (child.connected && !killedFor) child.send({ type: 'publish', ok } satisfies PublishAnswer);
        };
        Promise.resolve(opts.onPublish?.(msg.id)).then(
          () => answer(true),
          () => answer(false),
        );
      } else if (msg.type === 'done') finish(() => resolve({ manifest: msg.manifest, created: msg.created }));
      else if (msg.type === 'error') finish(() => reject(new SlideError(msg.code, msg.message)));
    });
    child.on('error', (e) =>
      finish(() => reject(new SlideError('INGEST_FAILED', `cannot start converter: ${e.message}`))),
    );
    // 'close' comes after the IPC channel drained, so a last 'done' message is never lost to 'exit'.
    child.on('close', (code, signal) => {
      if (killedFor) {
        const err = killedFor;
        return finish(() => reject(err));
      }
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const hint = /heap out of memory|Cannot allocate|std::bad_alloc/i.test(stderr)
        ? ' (out of memory)'
        : '';
      finish(() =>
        reject(
          new SlideError(
            'CORRUPT_FILE',
            `the converter stopped unexpectedly (${why})${hint} while reading this file`,
          ),
        ),
      );
    });
    const req: IngestRequest = {
      type: 'ingest',
      input: path.resolve(input),
      store: opts.store ?? { kind: 'local', root: path.resolve(opts.dataDir) },
      tileSize: opts.tileSize,
      jpegQuality: opts.jpegQuality,
      sharpConcurrency: opts.sharpConcurrency,
      ...(opts.name ? { name: opts.name } : {}),
    };
    child.send(req);
  });
}
