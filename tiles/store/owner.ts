import { readFileSync } from 'node:fs';

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
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc (not Linux): kill(pid, 0) answered.
    return true;
  }
}
