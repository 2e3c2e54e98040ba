import { createRequire } from 'node:module';
import type { Dataset } from './dicom-attributes.ts';

/** One attribute in the DICOM JSON model (PS3.18 F.2). */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}

/** A dataset in the DICOM JSON model: 8-hex-digit tags in ascending order. */
export type DicomJson = Record<string, DicomJsonAttribute>;

interface DictEntry {
  tag: string;
  vr: string;
  vm: string;
  name: string;
}
interface DcmjsDictionary {
  DicomMetaDictionary: {
    nameMap: Record<string, DictEntry>;
    dictionary: Record<string, DictEntry>;
  };
}
// dcmjs ships no type declarations: the few parts used here are typed above.
const dcmjs = createRequire(import.meta.url)('dcmjs') as { data: DcmjsDictionary };
const D = dcmjs.data.DicomMetaDictionary;

/** VRs whose values the JSON model gives as numbers (F.2.3.1). */
const NUMBER_VRS = new Set(['DS', 'IS', 'US', 'UL', 'SS', 'SL', 'FL', 'FD', 'SV', 'UV']);
const BINARY_VRS = new Set(['OB', 'OW', 'OD', 'OF', 'OL', 'OV', 'UN']);

/**
 * A naturalized dataset (keywords, as the export builds it or dcmjs reads it) in the DICOM JSON
 * model: numbers as numbers, person names as `{Alphabetic}`, attribute tags as 8 hex digits, binary
 * values inline (base64), empty values and empty sequences without a Value. Built directly from the
 * dictionary (dcmjs' own denaturalizing takes ~3x as long, and QIDO builds one per slide it looks at).
 */
export function toDicomJson(ds: Dataset): DicomJson {
  const vrMap = (ds._vrMap ?? {}) as Record<string, string>;
  const entries: [string, DicomJsonAttribute][] = [];
  for (const [keyword, v] of Object.entries(ds)) {
    if (keyword.startsWith('_') || v === undefined) continue;
    const e = D.nameMap[keyword];
    if (!e) throw new RangeError(`no DICOM attribute ${keyword}`);
    const vr = vrMap[keyword] ?? e.vr.slice(0, 2);
    entries.push([e.tag.slice(1, 5) + e.tag.slice(6, 10), attribute(vr, v)]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.fromEntries(entries);
}

function attribute(vr: string, v: unknown): DicomJsonAttribute {
  const a: DicomJsonAttribute = { vr };
  const values = (Array.isArray(v) ? v : [v]).filter((x) => x !== '' && x !== null && x !== undefined);
  if (values.length === 0) return a;
  if (vr === 'SQ') a.Value = values.map((item) => toDicomJson(item as Dataset));
  else if (BINARY_VRS.has(vr))
    a.InlineBinary = Buffer.concat(values.map((x) => Buffer.from(x as ArrayBuffer))).toString('base64');
  else if (vr === 'PN') {
    const names = values
      .map((x) =>
        typeof x === 'object' && !(x instanceof String)
          ? (x as { Alphabetic?: string })
          : { Alphabetic: String(x) },
      )
      .filter((x) => (x.Alphabetic ?? '') !== '');
    if (names.length) a.Value = names;
  } else if (vr === 'AT') a.Value = values.map((x) => Number(x).toString(16).toUpperCase().padStart(8, '0'));
  // FL values are 32-bit floats: stated as a reader of the binary form gets them.
  else if (vr === 'FL') a.Value = values.map((x) => Math.fround(Number(x)));
  else if (NUMBER_VRS.has(vr)) a.Value = values.map(Number);
  else a.Value = values.map(String);
  return a;
}

/** A data element as the dictionary knows it. */
export interface DicomTag {
  keyword: string;
  /** 8 upper-case hex digits, as DICOM JSON writes tags. */
  tag: string;
  vr: string;
}

/** A keyword (`PatientID`) or tag (`00100020`) as the dictionary knows it; null when unknown. */
export function dicomTag(keywordOrTag: string): DicomTag | null {
  let e: DictEntry | undefined;
  if (/^[0-9A-Fa-f]{8}$/.test(keywordOrTag)) {
    const t = keywordOrTag.toUpperCase();
    e = D.dictionary[`(${t.slice(0, 4)},${t.slice(4)})`];
  } else if (/^[A-Za-z][A-Za-z0-9]*$/.test(keywordOrTag) && Object.hasOwn(D.nameMap, keywordOrTag)) {
    e = D.nameMap[keywordOrTag];
  }
  if (!e || !/^\([0-9A-F]{4},[0-9A-F]{4}\)$/.test(e.tag)) return null;
  return { keyword: e.name, tag: e.tag.slice(1, 5) + e.tag.slice(6, 10), vr: e.vr };
}
