import type { CaseStatus, Priority, Subspecialty } from '../../../protocol/cases.ts';

/**
 * protocol/cases.ts's constants. Copied, not imported: a value import from protocol/cases.ts would
 * bring zod into the bundle. constants.test.ts keeps the copies equal.
 */
export const SUBSPECIALTIES = [
  'breast',
  'gi',
  'skin',
  'haematopathology',
  'neuro',
  'general',
] as const satisfies readonly Subspecialty[];

export const PRIORITIES = ['urgent', 'routine'] as const satisfies readonly Priority[];

export const CASE_STATUSES = [
  'received',
  'scanned',
  'assigned',
  'in_review',
  'second_opinion_requested',
  'reported',
] as const satisfies readonly CaseStatus[];

export const SUBSPECIALTY_LABELS: Record<Subspecialty, string> = {
  breast: 'Breast',
  gi: 'GI',
  skin: 'Skin',
  haematopathology: 'Haematopathology',
  neuro: 'Neuro',
  general: 'General',
};

export const STATUS_LABELS: Record<CaseStatus, string> = {
  received: 'Received',
  scanned: 'Scanned',
  assigned: 'Assigned',
  in_review: 'In review',
  second_opinion_requested: 'Second opinion requested',
  reported: 'Reported',
};

export function subspecialtyLabel(s: string): string {
  return SUBSPECIALTY_LABELS[s as Subspecialty] ?? s;
}

export function statusLabel(s: string): string {
  return STATUS_LABELS[s as CaseStatus] ?? s;
}

/** "frozen_section" → "Frozen section". */
export function specimenLabel(s: string): string {
  const t = s.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}
