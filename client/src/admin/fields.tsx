import type { LeavePeriodDto, Role, SiteDto, Subspecialty } from '../../../protocol/index.ts';
import { useMe } from '../auth/session.ts';
import { ROLE_LABELS } from '../auth/roles.ts';
import { SUBSPECIALTIES, subspecialtyLabel } from '../cases/constants.ts';
import { leaveText } from './format.ts';

export { hasCaseload, leaveText, today } from './format.ts';

/** A form's refusal, next to its button (the server's words). */
export function FormError({ message }: { message?: string | undefined }) {
  if (!message) return null;
  return (
    <p className="error-text small form-error" role="alert">
      {message}
    </p>
  );
}

/** The roles the signed-in user may give: lab managers never administrator. */
export function RoleSelect({
  value,
  onChange,
  disabled,
}: {
  value: Role;
  onChange: (r: Role) => void;
  disabled?: boolean;
}) {
  const { user } = useMe();
  const roles = (Object.keys(ROLE_LABELS) as Role[]).filter((r) => r !== 'admin' || user.role === 'admin');
  return (
    <label>
      Role
      <select value={value} onChange={(e) => onChange(e.target.value as Role)} disabled={disabled}>
        {roles.map((r) => (
          <option key={r} value={r}>
            {ROLE_LABELS[r]}
          </option>
        ))}
      </select>
    </label>
  );
}

export function SiteSelect({
  value,
  sites,
  onChange,
}: {
  value: string;
  sites: SiteDto[];
  onChange: (id: string) => void;
}) {
  return (
    <label>
      Site
      <select value={value} onChange={(e) => onChange(e.target.value)} disabled={sites.length < 2}>
        {sites.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Subspecialties (checkboxes) and weekly capacity in points: for pathologists and specialists. */
export function CaseloadFields({
  subs,
  onSubs,
  capacity,
  onCapacity,
}: {
  subs: Subspecialty[];
  onSubs: (s: Subspecialty[]) => void;
  capacity: string;
  onCapacity: (c: string) => void;
}) {
  return (
    <>
      <fieldset className="subs">
        <legend>Subspecialties</legend>
        {SUBSPECIALTIES.map((s) => (
          <label key={s} className="check">
            <input
              type="checkbox"
              checked={subs.includes(s)}
              onChange={(e) => onSubs(e.target.checked ? [...subs, s] : subs.filter((x) => x !== s))}
            />
            {subspecialtyLabel(s)}
          </label>
        ))}
      </fieldset>
      <label>
        Weekly capacity (points)
        <input
          type="number"
          min={0}
          max={1000}
          step="any"
          value={capacity}
          onChange={(e) => onCapacity(e.target.value)}
          required
        />
      </label>
    </>
  );
}

/** Leave periods in a line: "Now on leave" first when today is covered. */
export function LeaveSummary({ leave, onLeaveToday }: { leave: LeavePeriodDto[]; onLeaveToday: boolean }) {
  if (leave.length === 0) return <span className="muted">–</span>;
  return (
    <span className="small">
      {onLeaveToday && <span className="badge on-leave">On leave</span>} {leave.map(leaveText).join('; ')}
    </span>
  );
}
