/**
 * Orthanc, an independent DICOM server, as a peer in tests (scripts/orthanc/orthanc.ts starts it:
 * Debian's orthanc, orthanc-dicomweb and orthanc-wsi, on a free loopback port, in a temporary
 * folder). Without the packages the tests that need it skip with the apt-get line; under CI=true a
 * failing test names what is missing.
 */
import { describe, it } from 'vitest';
import {
  type Orthanc,
  type OrthancOptions,
  orthancMissing,
  startOrthanc,
} from '../../scripts/orthanc/orthanc.ts';

export type { Orthanc, OrthancOptions };
export { startOrthanc };

/** Whether Orthanc can be started here; outside CI a missing package is a warning (the tests skip). */
export function requireOrthanc(what: string): boolean {
  const missing = orthancMissing();
  if (missing.length === 0) return true;
  const line = `apt-get install --no-install-recommends ${missing.join(' ')}`;
  if (process.env.CI === 'true') {
    describe(`${what} in CI`, () => {
      it('has Orthanc with its DICOMweb and WSI plugins installed', () => {
        throw new Error(`missing Debian packages: ${missing.join(', ')} (.ci/run installs them: ${line})`);
      });
    });
  } else console.warn(`skipping ${what}: Orthanc is missing (${line})`);
  return false;
}

/** Store DICOM Part 10 files into Orthanc; returns Orthanc's id of their (last) series. */
export async function storeAll(o: Orthanc, files: Buffer[]): Promise<string> {
  let series = '';
  for (const f of files) {
    const r = await o.store(f);
    if (r.Status !== 'Success' && r.Status !== 'AlreadyStored')
      throw new Error(`Orthanc did not store an instance: ${JSON.stringify(r)}`);
    series = r.ParentSeries;
  }
  return series;
}
