/**
 * Child-process entry of an isolated ingest: a slide that crashes or exhausts libvips takes this
 * process down, never the server or the CLI that started it.
 */
import sharp from 'sharp';
import { isSlideError } from '../errors.ts';
import { LocalSlideStore } from '../store/local.ts';
import { ingest } from './ingest.ts';
import type { IngestMessage, IngestRequest } from './messages.ts';

function send(msg: IngestMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

process.once('message', (raw: unknown) => {
  const req = raw as IngestRequest;
  void (async () => {
    try {
      sharp.concurrency(req.sharpConcurrency);
      sharp.cache(false);
      const store = new LocalSlideStore(req.dataDir);
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
      });
      await send({ type: 'done', manifest: result.manifest, created: result.created });
    } catch (e) {
      if (isSlideError(e)) await send({ type: 'error', code: e.code, message: e.message });
      else
        await send({
          type: 'error',
          code: 'INGEST_FAILED',
          message: e instanceof Error ? e.message.split('\n')[0]! : String(e),
        });
    }
    process.disconnect?.();
    process.exit(0);
  })();
});
