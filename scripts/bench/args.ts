/** Command-line values of the benchmarks, checked with one message form. */

export function intArg(name: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(v) || v < min || v > max) {
    throw new Error(`Expected integer between ${min} and ${max} for --${name} but received ${raw}`);
  }
  return v;
}

/** `10,50`: comma-separated integers, each in range. */
export function intListArg(name: string, raw: string, min: number, max: number): number[] {
  return raw.split(',').map((s) => {
    const v = Number(s.trim());
    if (!/^\d+$/.test(s.trim()) || v < min || v > max)
      throw new Error(`Expected integers between ${min} and ${max} for --${name} but received ${raw}`);
    return v;
  });
}

/** `WIDTHxHEIGHT` in pixels. */
export function sizeArg(s: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) throw new Error(`Expected WIDTHxHEIGHT for --size but received ${s}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * Run a benchmark's main: exit with the code it returns (0 when every target holds); when it throws,
 * one line on stderr and exit code 2. Child processes started through tiles/children.ts are ended by
 * its exit hook either way.
 */
export function runBench(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(2);
    },
  );
}
