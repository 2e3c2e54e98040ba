import type { SlideDto, SourceFormat } from '../../../protocol/index.ts';

export type SortKey = 'name' | 'date' | 'size';
export type SortDir = 'asc' | 'desc';

export const FORMAT_LABELS: Record<SourceFormat, string> = {
  'aperio-svs': 'Aperio SVS',
  'generic-tiff': 'Pyramidal TIFF',
  'ome-tiff': 'OME-TIFF',
  qptiff: 'QPTIFF',
  dicom: 'DICOM WSI',
  'hamamatsu-ndpi': 'Hamamatsu NDPI',
  mirax: '3DHISTECH MIRAX',
  openslide: 'OpenSlide',
  czi: 'Zeiss CZI',
};

export function formatLabel(f: SourceFormat): string {
  return FORMAT_LABELS[f] ?? f;
}

/** Every word of the query must appear in the name, the format id or its label. */
export function filterSlides(slides: readonly SlideDto[], query: string): SlideDto[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...slides];
  return slides.filter((s) => {
    const hay = `${s.name} ${s.sourceFormat} ${formatLabel(s.sourceFormat)}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function compare(a: SlideDto, b: SlideDto, key: SortKey): number {
  switch (key) {
    case 'name':
      return collator.compare(a.name, b.name);
    case 'date':
      return Date.parse(a.createdAt) - Date.parse(b.createdAt);
    case 'size':
      return a.width * a.height - b.width * b.height;
  }
}

/** Stable: ties keep a name order so the list does not shuffle between refreshes. */
export function sortSlides(slides: readonly SlideDto[], key: SortKey, dir: SortDir): SlideDto[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...slides].sort(
    (a, b) => sign * compare(a, b, key) || collator.compare(a.name, b.name) || (a.id < b.id ? -1 : 1),
  );
}
