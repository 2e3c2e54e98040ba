/**
 * The reference algorithm: tissue detection and a haematoxylin-density heat map, no model weights,
 * speaking Tessera's algorithm contract (protocol/ai-contract.md) as a process of its own.
 *
 *   tessera ai-reference --port N [--host H] [--concurrency N]
 *       an HTTP endpoint: POST / (or /jobs) with a job answers 202 and runs it; GET /health
 *   tessera ai-reference --job -
 *       a local command: one job read from standard input; exit 0 once its results are posted
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AI_CONTRACT_HEADER,
  AI_CONTRACT_VERSION,
  AiJobRequestSchema,
  type AiJobRequest,
} from '../../protocol/index.ts';
import { runJob } from './run.ts';

const MAX_JOB_BYTES = 1024 * 1024;

function parseJob(text: string): AiJobRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('the job is not JSON');
  }
  const r = AiJobRequestSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(
      `not a contract ${AI_CONTRACT_VERSION} job: ${i?.path.join('.') ?? ''} ${i?.message ?? ''}`.trim(),
    );
  }
  return r.data;
}

/** One job from standard input (a local command). */
export async function runFromStdin(log: (m: string) => void): Promise<number> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_JOB_BYTES) throw new Error('the job is over 1 MB');
    chunks.push(c);
  }
  const job = parseJob(Buffer.concat(chunks).toString('utf8'));
  await runJob(job, log);
  return 0;
}

/** The HTTP endpoint: jobs accepted at once (202) and run a few at a time. */
export function serveReference(
  opts: { port: number; host: string; concurrency: number },
  log: (m: string) => void,
): Promise<{ server: Server; url: string }> {
  const waiting: AiJobRequest[] = [];
  let running = 0;
  const pump = (): void => {
    while (running < opts.concurrency && waiting.length > 0) {
      const job = waiting.shift()!;
      running++;
      void runJob(job, log)
        .catch(() => undefined)
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/health') {
      send(200, { ok: true, contract: AI_CONTRACT_VERSION, running, waiting: waiting.length });
      return;
    }
    if (req.method !== 'POST' || (req.url !== '/' && req.url !== '/jobs')) {
      send(404, { message: 'POST a job to / or /jobs' });
      return;
    }
    const version = req.headers[AI_CONTRACT_HEADER.toLowerCase()];
    if (version !== undefined && version !== String(AI_CONTRACT_VERSION)) {
      send(400, { message: `this algorithm speaks contract ${AI_CONTRACT_VERSION}, not ${String(version)}` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_JOB_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_JOB_BYTES) return send(413, { message: 'the job is over 1 MB' });
      let job: AiJobRequest;
      try {
        job = parseJob(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return send(400, { message: (e as Error).message });
      }
      waiting.push(job);
      pump();
      send(202, { accepted: job.job.id });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const a = server.address() as AddressInfo;
      resolve({ server, url: `http://${opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host}:${a.port}` });
    });
  });
}
