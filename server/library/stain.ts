/**
 * The stain a slide's name states, as labs name them ("S26-0012 A1 H&E", "B2_Ki67.svs"): the first
 * word that is a known stain or marker, as a short lower-case id (`he`, `ki67`, `her2`), or null.
 * Kept with each site's name of the slide so the library filters on it in the database.
 */
const STAINS: [RegExp, string][] = [
  [/^(h&e|he|hande|h-e|hes)$/, 'he'],
  [/^pas(-?d)?$/, 'pas'],
  [/^(masson|trichrome|mt)$/, 'trichrome'],
  [/^giemsa$/, 'giemsa'],
  [/^(zn|ziehl)$/, 'zn'],
  [/^(gms|grocott)$/, 'gms'],
  [/^congo$/, 'congo'],
  [/^(retic|reticulin)$/, 'reticulin'],
  [/^(ki-?67|mib-?1)$/, 'ki67'],
  [/^(her-?2|erbb2)$/, 'her2'],
  [/^er$/, 'er'],
  [/^pr$/, 'pr'],
  [/^p(16|40|53|63)$/, 'p$1'],
  [/^(ck(5|7|20)?|panck|ae1\/?ae3)$/, 'ck'],
  [/^cd\d{1,3}[a-z]?$/, '$&'],
  [/^(pd-?l1)$/, 'pdl1'],
  [/^(ihc)$/, 'ihc'],
];

export const STAIN_ID = /^[a-z0-9]{1,16}$/;

export function stainOf(name: string): string | null {
  const base = name.replace(/\.[A-Za-z0-9]{2,5}$/, '');
  for (const raw of base.toLowerCase().split(/[\s_.,;()[\]]+|(?<=[a-z0-9])-(?=[a-z]{2})/)) {
    const w = raw.replace(/^[-#]+|[-#]+$/g, '');
    if (!w) continue;
    for (const [re, id] of STAINS)
      if (re.test(w))
        return w
          .replace(re, id)
          .replace(/[^a-z0-9]/g, '')
          .slice(0, 16);
  }
  return null;
}
