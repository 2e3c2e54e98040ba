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
