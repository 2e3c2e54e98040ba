/**
 * Promise.all that lets every promise settle before the first failure leaves (no stray rejections,
 * no file closed under a read still running); the failure thrown is the first in the order given.
 */
export async function settleAll<T>(ps: readonly Promise<T>[]): Promise<T[]> {
  const out = await Promise.allSettled(ps);
  const bad = out.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
  return out.map((r) => (r as PromiseFulfilledResult<T>).value);
}
