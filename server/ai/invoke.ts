import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { AI_CONTRACT_HEADER, AI_CONTRACT_VERSION, type AiJobRequest } from '../../protocol/index.ts';
import type { AlgorithmEndpoint } from '../../protocol/index.ts';

/** How long an HTTP algorithm may take to accept a job (its work then goes on until the deadline). */
export const ACCEPT_TIMEOUT_MS = 15_000;
/** What is kept of a command's standard error, for the failure message. */
const STDERR_TAIL = 4096;

/** A failure to hand a job to its algorithm. */
export class InvokeError extends Error {
  constructor(
    readonly failure: 'unreachable' | 'crashed',
    message: string,
  ) {
    super(message);
  }
}

export interface Invocation {
  /** Resolves when a command exits (never for an HTTP algorithm, which answers through the contract). */
  exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  /** Stop the work: the command's whole process group is killed. */
  kill(): void;
}

/** The last line of a command's standard error worth quoting. */
export function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 300);
}

/**
 * Hand a job to its algorithm. An HTTP endpoint gets the job as JSON in a POST and must accept it
 * (2xx) within ACCEPT_TIMEOUT_MS; a command is started without a shell (its program and arguments
 * as registered), in the temporary folder, with nothing of the server's environment but PATH, HOME
 * and LANG (no database URL, no store keys), the job on its standard input.
 */
export async function invoke(endpoint: AlgorithmEndpoint, job: AiJobRequest): Promise<Invocation> {
  const body = JSON.stringify(job);
  if (endpoint.kind === 'http') {
    let res: Response;
    try {
      res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          [AI_CONTRACT_HEADER]: String(AI_CONTRACT_VERSION),
        },
        body,
        signal: AbortSignal.timeout(ACCEPT_TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (e) {
      // fetch says only "fetch failed"; why is in its cause (ECONNREFUSED, "bad port", …).
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (e as Error).name === 'TimeoutError'
          ? `no answer within ${ACCEPT_TIMEOUT_MS / 1000} s`
          : (cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e)));
      throw new InvokeError('unreachable', `the algorithm's endpoint could not be reached: ${why}`);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok)
      throw new InvokeError(
        'unreachable',
        `the algorithm's endpoint refused the job: HTTP ${res.status}${text ? ` ${text.slice(0, 200)}` : ''}`,
      );
    return { exited: new Promise(() => {}), kill: () => {} };
  }
  const [program, ...args] = endpoint.argv;
  const env: NodeJS.ProcessEnv = { [`TESSERA_AI_CONTRACT`]: String(AI_CONTRACT_VERSION) };
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
  let child: ChildProcess;
  try {
    child = spawn(program!, args, {
      cwd: tmpdir(),
      env,
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
      shell: false,
    });
  } catch (e) {
    throw new InvokeError('crashed', `the algorithm's command could not start: ${(e as Error).message}`);
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_TAIL);
  });
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    child.once('error', (e) => resolve({ code: null, signal: null, stderr: `${stderr}\n${e.message}` }));
    child.once('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  // A command that does not read its input (or is gone) must not fail the server.
  child.stdin!.on('error', () => {});
  child.stdin!.end(body);
  const kill = (): void => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  return { exited, kill };
}
