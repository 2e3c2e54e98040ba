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
    denaturalizeDataset(ds: Record<string, unknown>): Record<string, { vr: string; Value?: unknown[] }>;
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
 * A naturalized dataset (keywords, as the export builds it) in the DICOM JSON model: numbers as
 * numbers, person names as `{Alphabetic}`, binary values inline (base64), empty values and empty
 * sequences without a Value.
 */
export function toDicomJson(ds: Dataset): DicomJson {
  return fromDenaturalized(D.denaturalizeDataset(ds));
}

function fromDenaturalized(raw: Record<string, { vr: string; Value?: unknown[] }>): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(raw).sort()) {
    const { vr, Value } = raw[tag]!;
    const a: DicomJsonAttribute = { vr };
    const values = Value ?? [];
    if (vr === 'SQ') {
      const items = values.map((item) =>
        fromDenaturalized(item as Record<string, { vr: string; Value?: unknown[] }>),
      );
      if (items.length) a.Value = items;
    } else if (BINARY_VRS.has(vr)) {
      const parts = values.map((v) => Buffer.from(v as ArrayBuffer));
      if (parts.length) a.InlineBinary = Buffer.concat(parts).toString('base64');
    } else if (vr === 'PN') {
      // dcmjs holds names as String objects that serialise as {Alphabetic}: their JSON is the model's.
      const names = (JSON.parse(JSON.stringify(values)) as unknown[])
        .map((v) => (typeof v === 'string' ? { Alphabetic: v } : (v as { Alphabetic?: string } | null)))
        .filter((v): v is { Alphabetic?: string } => v !== null && (v.Alphabetic ?? '') !== '');
      if (names.length) a.Value = names;
    } else if (vr === 'AT') {
      // Tags as 8 hex digits (F.2.3.1). Datasets give them as numbers, which dcmjs turns into decimal strings.
      const at = values.map((v) => Number(v).toString(16).toUpperCase().padStart(8, '0'));
      if (at.length) a.Value = at;
    } else if (NUMBER_VRS.has(vr)) {
      // FL values are 32-bit floats: stated as a reader of the binary form gets them.
      const nums = values
        .filter((v) => v !== '' && v !== null && v !== undefined)
        .map((v) => (vr === 'FL' ? Math.fround(Number(v)) : Number(v)));
      if (nums.length) a.Value = nums;
    } else {
      const strs = values.filter((v) => v !== '' && v !== null && v !== undefined);
      if (strs.length) a.Value = strs;
    }
    out[tag] = a;
  }
  return out;
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
