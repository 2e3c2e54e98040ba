import { readFileSync, readdirSync } from 'node:fs';

/** Linux's /proc: where a test can see processes it did not start itself. */
export const haveProc = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

function stat(pid: number): { state: string; ppid: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may itself hold spaces and parentheses.
    const [state, ppid] = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/** Running (a zombie waiting for its parent to reap it has already exited). */
export function alive(pid: number): boolean {
  const s = stat(pid);
  return s !== null && s.state !== 'Z';
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Children of `pid` whose command line matches `command` (tsx may run helpers such as esbuild). */
export function childrenOf(pid: number, command: RegExp = /./): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => stat(p)?.ppid === pid && command.test(cmdline(p)));
}

/** The command line that starts an isolated ingest's converter. */
export const CONVERTER = /tiles\/ingest\/worker\.ts/;

/** Resolves with how long `pid` took to exit, or rejects once `ms` have passed with it still running. */
export async function exitWithin(pid: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) throw new Error(`process ${pid} still running after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}
