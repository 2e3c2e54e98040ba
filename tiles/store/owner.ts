import { readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Whether the process named in a work folder's name (`stage-<pid>-…`) may still be writing there:
 * another process that runs. A zombie has exited (its parent, killed, never reaped it; until init
 * does, `kill(pid, 0)` still finds it), and so has this process's own former self after a restart
 * that reused its pid.
 */
export function ownerRuns(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state …": comm may hold spaces and parentheses.
    return s[s.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    // No /proc (not Linux): kill(pid, 0) answered.
    return true;
  }
}

/**
 * Remove the staging areas, trash and scratch folders (`stage-`, `trash-`, `work-<pid>-…`) in a
 * store's tmp folder whose process is gone; those of another live process (a CLI ingest sharing the
 * folder) stay. How many were removed.
 */
export async function sweepWorkFolders(tmpDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    const m = /^(stage|trash|work)-(\d+)-/.exec(name);
    if (m && !ownerRuns(Number(m[2]))) {
      await rm(path.join(tmpDir, name), { recursive: true, force: true });
      n++;
    }
  }
  return n;
}
