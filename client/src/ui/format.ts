/** Number and date formatting shared by the pages. Fixed 'en-US' grouping keeps values unambiguous. */

const grouped = new Intl.NumberFormat('en-US');

export function formatInt(n: number): string {
  return grouped.format(Math.round(n));
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDimensions(width: number, height: number): string {
  return `${formatInt(width)} × ${formatInt(height)} px`;
}

export function formatMpp(x: number | null, y: number | null): string {
  if (x === null) return 'unknown';
  const fx = x.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  if (y === null || Math.abs(x - y) < 1e-6) return fx;
  const fy = y.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  return `${fx} × ${fy}`;
}

/** ISO-like and locale-free: "2025-03-14 09:26". */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
