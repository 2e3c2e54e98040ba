/**
 * CSV output for people who open it in a spreadsheet. A text cell starting with `=`, `+`, `-`, `@`, a
 * tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a formula (OWASP "CSV
 * injection"): a sign-in attempt named `=HYPERLINK(...)` would become a live link in an exported
 * audit trail. Such cells get a leading `'`, which spreadsheets show as text and do not display.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell: null and undefined empty, numbers as they are, objects as JSON, text defused and quoted. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  // Numbers stay numbers (-3 is a value, not a formula); only text can carry one.
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line (no line ending) of cells. */
export function csvRow(values: readonly unknown[]): string {
  return values.map(csvCell).join(',');
}
