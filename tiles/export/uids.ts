import { createHash } from 'node:crypto';

/**
 * A DICOM UID that is the same on every export of the same slide: `2.25.` and the decimal value of
 * the first 128 bits of SHA-256 over the parts (PS3.5 B.2 allows UUID-sized integers under 2.25).
 * At most 44 characters; never a leading zero.
 */
export function stableUid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${h}`).toString(10)}`;
}

/** The UIDs of one slide's series by role (`study`, `series`, `instance:level:0`, …). */
export function slideUidMaker(slideId: string, deidentified: boolean, salt: string): (role: string) => string {
  const s = deidentified ? `deidentified:${salt}` : salt;
  return (role) => stableUid('tessera-dicom-export', slideId, s, role);
}
