/**
 * A parent that dies the moment its converter asks to publish: `node --import tsx
 * tests/helpers/ingest-then-die.ts INPUT DATA_DIR`. Prints `converter PID`, then SIGKILLs
 * itself (no handler runs, as in a crash or the OOM killer).
 */
import { writeSync } from 'node:fs';
import { ingestIsolated } from '../../tiles/index.ts';
import { CONVERTER, childrenOf } from './procs.ts';

const [input, dataDir] = process.argv.slice(2);
await ingestIsolated(input!, {
  dataDir: dataDir!,
  tileSize: 256,
  jpegQuality: 80,
  sharpConcurrency: 1,
  onPublish: () => {
    for (const pid of childrenOf(process.pid, CONVERTER)) writeSync(1, `converter ${pid}\n`);
    process.kill(process.pid, 'SIGKILL');
    return new Promise(() => {});
  },
});
