import { type Cipher, type Decipher, createCipheriv, createDecipheriv, createHash } from 'node:crypto';

/**
 * A DICOM UID that is the same on every export of the same slide: `2.25.` and the decimal value of
 * the first 128 bits of SHA-256 over the parts (PS3.5 B.2 allows UUID-sized integers under 2.25).
 * At most 44 characters; never a leading zero.
 */
export function stableUid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${h}`).toString(10)}`;
}

const SLIDE_ID = /^[0-9a-f]{32}$/;
const UID_2_25 = /^2\.25\.(0|[1-9][0-9]{0,38})$/;

/**
 * AES-128-ECB per role (the key: which UID of a series a 128-bit value stands for). ECB keeps no
 * state between blocks, so one cipher per key encrypts block after block through update() alone.
 */
const ciphers = new Map<string, { enc: Cipher; dec: Decipher }>();

function roleCipher(salt: string, role: string): { enc: Cipher; dec: Decipher } {
  const id = `${salt}\u0000${role}`;
  let c = ciphers.get(id);
  if (!c) {
    const key = createHash('sha256').update(`tessera-dicom-uid\u0000${id}`).digest().subarray(0, 16);
    c = {
      enc: createCipheriv('aes-128-ecb', key, null).setAutoPadding(false),
      dec: createDecipheriv('aes-128-ecb', key, null).setAutoPadding(false),
    };
    if (ciphers.size > 10_000) ciphers.clear();
    ciphers.set(id, c);
  }
  return c;
}

/**
 * The UIDs of one slide's series by role (`study`, `series`, `instance:level:0`, …), stable across
 * exports and servers.
 *
 * Identified: the slide id (128 bits) encrypted with a key per role, so a UID in a request leads
 * back to its slide with no lookup table (a DICOMweb path names only UIDs), and different roles give
 * unrelated-looking UIDs. The key is no secret: the slide id is not one either (it is in every tile
 * URL of whoever may see the slide).
 *
 * De-identified: a one-way hash of the slide id, the share's salt and the role, so nobody holding a
 * de-identified series, even with its study code, can get from it to the slide or to the identified
 * series' UIDs. The server finds these among the de-identified shares of the asking user.
 */
export function slideUidMaker(
  slideId: string,
  deidentified: boolean,
  salt: string,
): (role: string) => string {
  const made = new Map<string, string>();
  let make: (role: string) => string;
  if (deidentified || !SLIDE_ID.test(slideId)) {
    const s = deidentified ? `deidentified:${salt}` : salt;
    make = (role) => stableUid('tessera-dicom-export', slideId, s, role);
  } else {
    const plain = Buffer.from(slideId, 'hex');
    make = (role) => {
      const block = roleCipher(salt, role).enc.update(plain);
      return `2.25.${BigInt(`0x${block.toString('hex')}`).toString(10)}`;
    };
  }
  // A series asks for its study and series UIDs many times over.
  return (role) => {
    let uid = made.get(role);
    if (uid === undefined) made.set(role, (uid = make(role)));
    return uid;
  };
}

/**
 * The slide whose identified series has `uid` in `role` (with `salt`, as made by slideUidMaker),
 * or null when `uid` cannot be one. Any 128-bit value decodes to some id: the caller checks that
 * the slide exists and may be seen.
 */
export function slideIdOfUid(uid: string, role: string, salt = ''): string | null {
  const m = UID_2_25.exec(uid);
  if (!m) return null;
  const n = BigInt(m[1]!);
  if (n >= 1n << 128n) return null;
  const block = Buffer.from(n.toString(16).padStart(32, '0'), 'hex');
  return roleCipher(salt, role).dec.update(block).toString('hex');
}
