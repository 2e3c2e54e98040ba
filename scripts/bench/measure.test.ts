import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { measure, memoryOf, processTree } from './measure.ts';

describe.skipIf(!existsSync('/proc/self/status'))('bench measurement of a process tree', () => {
  it('finds this process and reads its memory', () => {
    expect(processTree(process.pid)).toContain(process.pid);
    const m = memoryOf(process.pid);
    expect(m?.rss).toBeGreaterThan(10 * 1024 ** 2);
    expect(m!.hwm).toBeGreaterThanOrEqual(m!.rss);
  });

  it('counts the memory of a grandchild, as ingest workers are', async () => {
    // The child only waits; its own child touches 200 MB and holds it long enough to be sampled.
    const grandchild = `const b = Buffer.alloc(200 * 1024 * 1024, 1); setTimeout(() => console.log(b[0]), 600);`;
    const child = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'inherit' });`;
    const m = await measure(process.execPath, ['-e', child]);
    expect(m.code).toBe(0);
    expect(m.stdout.trim()).toBe('1');
    expect(m.processes).toBeGreaterThanOrEqual(2);
    expect(m.peakRssBytes).toBeGreaterThan(200 * 1024 ** 2);
    expect(m.wallSeconds).toBeGreaterThan(0.5);
  });

  it('reports a failing command with its exit code and the end of its stderr', async () => {
    const m = await measure(process.execPath, ['-e', 'console.error("boom"); process.exit(3)']);
    expect(m.code).toBe(3);
    expect(m.stderrTail).toContain('boom');
  });
});
