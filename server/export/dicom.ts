import type { DicomExportOptions, DicomSubject } from '../../tiles/export/dicom.ts';
import type { Principal } from '../auth/auth.ts';
import type { SlideGrant } from '../auth/access.ts';
import type { Access } from '../auth/access.ts';
import type { AuditLog } from '../auth/audit.ts';
import type { Db } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';

/** What an export of one slide writes about it, and the name of the download. */
export interface ExportPlan {
  slideId: string;
  /** A file name without extension: the slide's name, or the study code when de-identified. */
  fileName: string;
  options: DicomExportOptions;
  grant: SlideGrant | null;
}

const VERSION = '0.1.0';

/**
 * Patient and study attributes for the identified export. Tessera keeps no patient name or
 * record number: the case's accession stands for the patient and the study, its received date is
 * the study date. Without a linked case, only the slide's own name.
 */
export async function identifiedSubject(
  db: Db,
  slideId: string,
  slideName: string,
  siteId: string | null,
): Promise<DicomSubject> {
  const subjects = await identifiedSubjects(db, [{ id: slideId, name: slideName, siteId }]);
  return subjects.get(slideId)!;
}

/**
 * identifiedSubject for many slides in one query: each slide's case is the one of the site it is
 * seen through, else its earliest.
 */
export async function identifiedSubjects(
  db: Db,
  slides: readonly { id: string; name: string; siteId: string | null }[],
): Promise<Map<string, DicomSubject>> {
  const out = new Map<string, DicomSubject>();
  if (slides.length === 0) return out;
  const cases = await db
    .selectFrom('case_slides')
    .innerJoin('cases', 'cases.id', 'case_slides.case_id')
    .select([
      'case_slides.slide_id',
      'cases.accession',
      'cases.received_at',
      'cases.specimen_type',
      'cases.subspecialty',
      'cases.site_id',
    ])
    .where('case_slides.slide_id', 'in', [...new Set(slides.map((x) => x.id))])
    .orderBy('cases.received_at', 'asc')
    .execute();
  for (const slide of slides) {
    const mine = cases.filter((x) => x.slide_id === slide.id);
    const c = mine.find((x) => x.site_id === slide.siteId) ?? mine[0];
    out.set(
      slide.id,
      c
        ? {
            patientName: '',
            patientId: c.accession,
            accessionNumber: c.accession,
            studyId: c.accession,
            studyDate: c.received_at,
            studyDescription: `${c.specimen_type} (${c.subspecialty})`,
            containerId: slide.name,
          }
        : { patientName: '', patientId: '', containerId: slide.name },
    );
  }
  return out;
}

/**
 * A de-identified share's export (PS3.15 E.1): the study code is the patient's name and id and the
 * slide's identifier; nothing from the case, no dates, no label or overview.
 */
export function deidentifiedSubject(slideId: string, grant: SlideGrant): DicomSubject {
  const code = grant.studyCode ?? `SHARED-${slideId.slice(0, 8)}`;
  return { patientName: code, patientId: code, containerId: code };
}

/**
 * The export `p` may download: the same grant as every other slide route (404 when the slide is not
 * theirs to see), de-identified when their only access is a de-identified share. Audited as
 * `slide.export`.
 */
export async function planDicomExport(
  deps: { db: Db; access: Access; audit: AuditLog },
  p: Principal,
  slideId: string,
  ip: string | null,
): Promise<ExportPlan> {
  const seen = await deps.access.slide(p, slideId);
  if (!seen) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${slideId}`);
  const { row, grant } = seen;
  const deidentified = grant.deidentified;
  const subject = deidentified
    ? deidentifiedSubject(slideId, grant)
    : await identifiedSubject(deps.db, slideId, row.name, grant.siteId);
  await deps.audit.record({
    action: 'slide.export',
    actor: p.user,
    targetType: 'slide',
    targetId: slideId,
    targetSiteId: grant.siteId,
    ip,
    detail: { format: 'dicom', deidentified, credential: p.via },
  });
  return {
    slideId,
    fileName: deidentified ? subject.containerId : row.name,
    options: dicomOptions(subject, grant),
    grant,
  };
}

/**
 * The series a user sees of a slide through `grant`: the export they may download and the one the
 * DICOMweb server shows them (same attributes, same UIDs).
 */
export function dicomOptions(
  subject: DicomSubject,
  grant: Pick<SlideGrant, 'deidentified' | 'studyCode'>,
): DicomExportOptions {
  return {
    subject,
    deidentified: grant.deidentified,
    uidSalt: grant.deidentified ? (grant.studyCode ?? '') : '',
    softwareVersion: VERSION,
  };
}

/** A name safe in a Content-Disposition header and as a zip folder: letters, digits, . _ - only. */
export function safeFileName(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '')
    .slice(0, 80);
  return s || 'slide';
}
