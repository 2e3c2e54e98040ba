/** How a tile is asked for: the browser's fetch priority. */
export type TilePriority = 'high' | 'low' | 'auto';

/**
 * A tile fetched with the page's credentials and decoded: what the tile worker does for the page,
 * and the page itself where no worker runs.
 */
export async function fetchDecoded(
  url: string,
  priority: TilePriority,
  signal?: AbortSignal,
): Promise<ImageBitmap> {
  const res = await fetch(url, { credentials: 'same-origin', priority, signal } as RequestInit);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return createImageBitmap(await res.blob());
}
