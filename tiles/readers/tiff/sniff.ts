import type { Probe } from '../types.ts';
import { TAG, TiffFile, tiffKind } from '../../tiff/file.ts';

/**
 * Which TIFF dialect a file is, from its first IFD. 'damaged' is a TIFF header whose first IFD cannot
 * be read: the generic reader claims it so that opening reports what is wrong (e.g. TRUNCATED_FILE)
 * rather than "unsupported format".
 */
export type TiffDialect = 'aperio' | 'ome' | 'qptiff' | 'openslide-only' | 'plain' | 'damaged';

const cache = new WeakMap<Probe, Promise<TiffDialect | null>>();

/**
 * The TIFF dialect of a probed file, or null for anything that is not a TIFF. Reads only the header and
 * the first IFD, once per probe however many readers ask; never throws.
 */
export function tiffDialect(probe: Probe): Promise<TiffDialect | null> {
  let p = cache.get(probe);
  if (!p) {
    p = sniff(probe).catch(() => null);
    cache.set(probe, p);
  }
  return p;
}

async function sniff(probe: Probe): Promise<TiffDialect | null> {
  if (probe.isDirectory || !tiffKind(probe.head)) return null;
  let tf: TiffFile;
  try {
    tf = await TiffFile.open(probe.path, { maxIfds: 1 });
  } catch {
    return 'damaged';
  }
  try {
    const ifd = tf.ifds[0];
    if (!ifd) return null;
    return classify(
      ifd.description,
      ifd.software,
      ifd.has(TAG.NdpiFormatFlag),
      xmpText(ifd.bytes(TAG.XMP) ?? ifd.nums(TAG.XMP)),
    );
  } finally {
    await tf.close();
  }
}

function xmpText(v: Buffer | number[] | undefined): string {
  if (!v) return '';
  return Buffer.isBuffer(v) ? v.toString('utf8') : Buffer.from(v).toString('utf8');
}

/**
 * Classify by the first IFD's text tags. Formats that OpenSlide (through the vips command) reads and
 * these readers do not are recognised so that no TIFF reader claims them: Hamamatsu NDPI (private tag
 * 65420), Leica SCN, Philips TIFF, Ventana BIF and Trestle.
 */
export function classify(description: string, software: string, ndpiTag: boolean, xmp: string): TiffDialect {
  if (ndpiTag) return 'openslide-only';
  const desc = description.trimStart();
  if (desc.startsWith('Aperio')) return 'aperio';
  if (software.startsWith('PerkinElmer-QPI') || desc.includes('<PerkinElmer-QPI-ImageDescription'))
    return 'qptiff';
  if (/<(\w+:)?OME[\s>]/.test(desc)) return 'ome';
  if (desc.startsWith('<?xml') && desc.includes('leica-microsystems.com/scn')) return 'openslide-only';
  if (desc.includes('DPUfsImport') || software.startsWith('Philips')) return 'openslide-only';
  if (software.startsWith('MedScan')) return 'openslide-only';
  if (xmp.includes('iScan')) return 'openslide-only';
  return 'plain';
}
