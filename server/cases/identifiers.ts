import { randomBytes } from 'node:crypto';
import { HttpError } from '../http/errors.ts';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A study code for a second opinion: `SO-` and 8 base32 characters (40 random bits). Derived from
 * nothing about the case, so the code on the shared slide tells the other site nothing.
 */
export function randomStudyCode(): string {
  const bytes = randomBytes(5);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 7; i >= 0; i--) out += BASE32[Number((bits >> BigInt(i * 5)) & 31n)]!;
  return `SO-${out}`;
}

/**
 * Whether ten digits form a valid NHS number: weights 10 down to 2 on the first nine digits,
 * check = 11 - (sum mod 11), where 11 means 0 and 10 means no valid number has these nine digits.
 */
export function isValidNhsNumber(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return false;
  return (check === 11 ? 0 : check) === Number(digits[9]);
}

/** Ten digits, alone or spaced / dashed 3-3-4, not part of a longer run of digits. */
const NHS_SHAPED = /(?<!\d)(\d{3})[ \u00a0-]?(\d{3})[ \u00a0-]?(\d{4})(?!\d)/g;

/** Whether the text holds an NHS number (shaped like one and with a valid check digit). */
export function containsNhsNumber(text: string): boolean {
  for (const m of text.matchAll(NHS_SHAPED)) if (isValidNhsNumber(`${m[1]}${m[2]}${m[3]}`)) return true;
  return false;
}

/** Letters and digits only, lower case: "H26-0042" and "h26 0042" compare equal. */
const bare = (s: string): string => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

/** Whether `text` contains `identifier`, ignoring case and every separator (space, dash, slash, dot). */
export function containsIdentifier(text: string, identifier: string): boolean {
  const id = bare(identifier);
  return id.length > 0 && bare(text).includes(id);
}

/**
 * Refuse free text that is about to leave the site when it carries one of the case's identifiers or an
 * NHS number. `identifiers` are named for the message (never the value, which stays out of logs).
 */
export function refuseIdentifiers(
  field: string,
  text: string,
  identifiers: { what: string; value: string }[],
): void {
  for (const { what, value } of identifiers)
    if (containsIdentifier(text, value))
      throw new HttpError(
        'IDENTIFIER_IN_TEXT',
        `the ${field} contains ${what}; it is sent to another site, so leave identifiers out`,
      );
  if (containsNhsNumber(text))
    throw new HttpError(
      'IDENTIFIER_IN_TEXT',
      `the ${field} contains an NHS number; it is sent to another site, so leave identifiers out`,
    );
}
