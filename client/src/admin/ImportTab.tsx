import { type FormEvent, useState } from 'react';
import type { ImportReport } from '../../../protocol/index.ts';
import { errorMessage } from '../cases/useLoader.ts';
import { importCases } from './api.ts';
import { FormError } from './fields.tsx';

const EXAMPLE =
  'accession,site,specimen,subspecialty,priority,received_date\nH26-0001,north,biopsy,breast,urgent,2026-03-02';

/** Case CSV import: a file or pasted text; the rows stored and each bad row with its number and reason. */
export function ImportTab() {
  const [text, setText] = useState('');
  const [fileName, setFileName] = useState('');
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return setError('Choose a CSV file or paste its rows first.');
    setBusy(true);
    setError('');
    setReport(null);
    try {
      setReport(await importCases(text));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-label="Import cases" className="import">
      <form className="panel admin-form" onSubmit={(e) => void submit(e)}>
        <p className="muted small">
          One case a row, with a header naming the columns (any order): <code>accession</code>,{' '}
          <code>site</code>, <code>specimen</code>, <code>subspecialty</code>, <code>priority</code> (urgent
          or routine), <code>received_date</code> (YYYY-MM-DD). Good rows are stored; bad ones are listed
          below.
        </p>
        <label className="file-pick">
          CSV file
          <input
            type="file"
            accept=".csv,text/csv,text/plain"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (!f) return;
              setFileName(f.name);
              void f.text().then(setText);
            }}
          />
        </label>
        <label className="paste">
          or paste the rows
          <textarea
            rows={6}
            value={text}
            placeholder={EXAMPLE}
            spellCheck={false}
            onChange={(e) => {
              setText(e.target.value);
              setFileName('');
            }}
          />
        </label>
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Importing…' : 'Import cases'}
          </button>
          {fileName && <span className="muted small">{fileName}</span>}
          <FormError message={error} />
        </div>
      </form>
      {report && (
        <div className="import-report" data-testid="import-report">
          <p className={report.imported > 0 ? 'ok-text' : 'error-text'} role="status">
            {report.imported === 1 ? '1 case imported' : `${report.imported} cases imported`}
            {report.errors.length > 0 &&
              `; ${report.errors.length === 1 ? '1 row' : `${report.errors.length} rows`} not imported`}
            .
          </p>
          {report.errors.length > 0 && (
            <table className="cases import-errors">
              <thead>
                <tr>
                  <th className="num">Row</th>
                  <th>Reason</th>
                </tr>
              </thead>
              <tbody>
                {report.errors.map((r, i) => (
                  <tr key={`${r.row}-${i}`}>
                    <td className="num">{r.row}</td>
                    <td>{r.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
