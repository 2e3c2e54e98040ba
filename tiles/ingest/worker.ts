/**
 * Child-process entry of an isolated ingest: a slide that crashes or exhausts libvips takes this
 * process down, never the server or the CLI that started it.
 */
import sharp from 'sharp';
import { SlideError, isSlideError, noSpaceError } from '../errors.ts';
import { createStore } from '../store/index.ts';
import { ingest } from './ingest.ts';
import type { IngestMessage, IngestRequest, PublishAnswer } from './messages.ts';

let finishing = false;

/**
 * End at once. process.exit() would wait for libvips to wind down its threads, seconds into a
 * pyramid write on a busy machine; nothing here needs cleaning (the next start sweeps the staging
 * area) and nobody is left to tell.
 */
function dieNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/**
 * A conversion nobody waits for must not go on and publish a slide nobody will register: the parent
 * may have been killed with SIGKILL (no handlers run), so the child watches for it itself. The IPC
 * channel closes with the parent; the parent id changing is the fallback.
 */
function dieWithParent(): void {
  const orphaned = (): void => {
    if (!finishing) dieNow();
  };
  process.on('disconnect', orphaned);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent || !process.connected) orphaned();
  }, 200).unref();
}

function send(msg: IngestMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

/** Ask the parent to record the slide about to be published; resolves once it has. */
function permitPublish(id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAnswer = (raw: unknown): void => {
      const m = raw as PublishAnswer;
      if (m?.type !== 'publish') return;
      process.off('message', onAnswer);
      if (m.ok) resolve();
      else reject(new SlideError('INGEST_FAILED', 'the slide could not be recorded; nothing was stored'));
    };
    process.on('message', onAnswer);
    void send({ type: 'publish', id });
  });
}

dieWithParent();

process.once('message', (raw: unknown) => {
  const req = raw as IngestRequest;
  void (async () => {
    try {
      sharp.concurrency(req.sharpConcurrency);
      sharp.cache(false);
      const store = createStore(req.store);
      let lastPercent = -1;
      let lastStage = '';
      const result = await ingest(req.input, store, {
        tileSize: req.tileSize,
        jpegQuality: req.jpegQuality,
        name: req.name,
        onProgress: (percent, stage) => {
          if (percent === lastPercent && stage === lastStage) return;
          lastPercent = percent;
          lastStage = stage;
          void send({ type: 'progress', percent, stage });
        },
        beforePublish: async (id) => {
          await permitPublish(id);
          // The last moment before the rename: a parent gone since it answered gets no slide.
          if (!process.connected) dieNow();
        },
      });
      await send({ type: 'done', manifest: result.manifest, created: result.created });
    } catch (e) {
      const err = isSlideError(e) ? e : noSpaceError(e);
      if (err) await send({ type: 'error', code: err.code, message: err.message });
      else
        await send({
          type: 'error',
          code: 'INGEST_FAILED',
          // A system error's message names internal paths; its code says enough.
          message:
            typeof (e as NodeJS.ErrnoException).code === 'string'
              ? `storage error (${(e as NodeJS.ErrnoException).code})`
              : e instanceof Error
                ? e.message.split('\n')[0]!
                : String(e),
        });
    }
    finishing = true;
    process.disconnect?.();
    process.exit(0);
  })();
});
