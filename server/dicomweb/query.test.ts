import { describe, expect, it } from 'vitest';
import { toDicomJson } from '../../tiles/export/dicom-json.ts';
import { matchesAll, parseQido, pick } from './query.ts';

const ds = toDicomJson({
  PatientName: 'SO-ABCDEFGH',
  PatientID: 'H26-0042',
  StudyDate: '20260302',
  StudyTime: '091500',
  StudyInstanceUID: '2.25.1',
  ModalitiesInStudy: ['SM'],
  ImageType: ['DERIVED', 'PRIMARY', 'VOLUME', 'RESAMPLED'],
  NumberOfFrames: 12,
  AccessionNumber: '',
});
const match = (q: Record<string, string | string[]>): boolean => matchesAll(ds, parseQido(q).filters);

describe('QIDO matching (PS3.4 C.2.2.2)', () => {
  it('single values, case-blind person names, case-sensitive other strings', () => {
    expect(match({ PatientID: 'H26-0042' })).toBe(true);
    expect(match({ PatientID: 'h26-0042' })).toBe(false);
    expect(match({ PatientName: 'so-abcdefgh' })).toBe(true);
    expect(match({ '00100020': 'H26-0042' })).toBe(true);
    expect(match({ NumberOfFrames: '12' })).toBe(true);
    expect(match({ NumberOfFrames: '13' })).toBe(false);
  });

  it('wildcards * and ?, universal matching, lists of UIDs, multi-valued attributes', () => {
    expect(match({ PatientName: 'SO-*' })).toBe(true);
    expect(match({ PatientName: 'SO-ABCDEFG?' })).toBe(true);
    expect(match({ PatientName: 'SO-ABCDEF?' })).toBe(false);
    expect(match({ PatientName: 'S*H' })).toBe(true);
    expect(match({ PatientID: 'H2.-0042' })).toBe(false);
    expect(match({ PatientID: '' })).toBe(true);
    expect(match({ PatientID: '*' })).toBe(true);
    expect(match({ AccessionNumber: 'X*' })).toBe(false);
    expect(match({ StudyInstanceUID: '1.2.3,2.25.1' })).toBe(true);
    expect(match({ StudyInstanceUID: '1.2.3\\2.25.1' })).toBe(true);
    expect(match({ StudyInstanceUID: '2.25.11' })).toBe(false);
    expect(match({ ImageType: 'VOLUME' })).toBe(true);
    expect(match({ ImageType: 'LABEL' })).toBe(false);
    expect(match({ ModalitiesInStudy: 'SM' })).toBe(true);
    expect(match({ PatientID: ['H26-0042', 'X'] })).toBe(false);
  });

  it('date and time ranges, open at either end', () => {
    expect(match({ StudyDate: '20260302' })).toBe(true);
    expect(match({ StudyDate: '20260301-20260302' })).toBe(true);
    expect(match({ StudyDate: '20260303-' })).toBe(false);
    expect(match({ StudyDate: '-20260302' })).toBe(true);
    expect(match({ StudyDate: '-20260301' })).toBe(false);
    expect(match({ StudyTime: '090000-100000' })).toBe(true);
    expect(match({ StudyTime: '100000-' })).toBe(false);
    expect(match({ AccessionNumber: 'A' })).toBe(false);
  });

  it('limit, offset, includefield; bad keys and values are 400 with the uniform message', () => {
    const q = parseQido({ limit: '5', offset: '10', includefield: ['00480006,NumberOfFrames', 'ImageType'] });
    expect([q.limit, q.offset]).toEqual([5, 10]);
    expect(pick(ds, [], q)).toEqual({ '00080008': ds['00080008'], '00280008': ds['00280008'] });
    expect(parseQido({ includefield: 'all' }).include).toBe('all');
    expect(parseQido({ fuzzymatching: 'true' }).filters).toEqual([]);
    for (const [k, v] of [
      ['limit', '0'],
      ['limit', '1001'],
      ['offset', '-1'],
      ['includefield', 'NotAKeyword'],
      ['NotAKeyword', 'x'],
      ['OpticalPathSequence', 'x'],
      ['00400275.00321060', 'x'],
      ['fuzzymatching', 'maybe'],
    ] as [string, string][])
      expect(() => parseQido({ [k]: v }), `${k}=${v}`).toThrow(/^Expected|not supported/);
  });
});
