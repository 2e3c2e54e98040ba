/**
 * A throwaway Orthanc (Debian's `orthanc`, with the `orthanc-dicomweb` and `orthanc-wsi` plugins;
 * .ci/run installs them) on a free loopback port, for tests and by hand: a temporary folder holds
 * its configuration, storage and index, and goes when it stops. Nothing listens beyond 127.0.0.1:
 * remote access is off, so Orthanc answers loopback requests only and needs no user.
 *
 *   node scripts/bin/run.mjs scripts/orthanc/orthanc.ts     # prints its URL, Ctrl-C stops it
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Child, freePort, lastLines, startChild, waitForHttp } from '../bench/tiles/children.ts';

/** Where Debian's packages put the plugins (`dpkg -L orthanc-dicomweb orthanc-wsi`). */
export const ORTHANC_PLUGINS = '/usr/share/orthanc/plugins';
const PLUGIN_FILES = ['libOrthancDicomWeb.so', 'libOrthancWSI.so'];

export interface Orthanc {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** The DICOMweb root: `${url}/dicom-web`. */
  dicomweb: string;
  /** Its temporary folder (configuration, storage, index, log). */
  dir: string;
  child: Child;
  /** JSON from Orthanc's REST API; throws with the answer's text on a status other than 2xx. */
  rest<T = unknown>(p: string, init?: RequestInit): Promise<T>;
  /** Stores one DICOM Part 10 file (`POST /instances`); returns its Orthanc ids. */
  store(file: Buffer): Promise<{ ID: string; ParentSeries: string; ParentStudy: string; Status: string }>;
  /** Orthanc's id of a DICOM UID (study, series or instance), via `POST /tools/lookup`. */
  lookup(uid: string): Promise<string | null>;
  /** SIGTERM (SIGKILL after a grace period), then its folder removed. */
  stop(): Promise<void>;
}

/** What is missing to start Orthanc with its DICOMweb and WSI plugins (empty: it can run). */
export function orthancMissing(): string[] {
  const out: string[] = [];
  if (spawnSync('sh', ['-c', 'command -v Orthanc'], { stdio: 'ignore' }).status !== 0) out.push('orthanc');
  if (!existsSync(path.join(ORTHANC_PLUGINS, 'libOrthancDicomWeb.so'))) out.push('orthanc-dicomweb');
  if (!existsSync(path.join(ORTHANC_PLUGINS, 'libOrthancWSI.so'))) out.push('orthanc-wsi');
  return out;
}

export interface OrthancOptions {
  /** DICOMweb servers Orthanc may send to or retrieve from: name → [url] or {Url, HttpHeaders, …}. */
  dicomwebServers?: Record<string, unknown>;
  /** Extra top-level configuration. */
  extra?: Record<string, unknown>;
  timeoutMs?: number;
}

/** Start Orthanc (well under a second here) and wait until its REST API answers. */
export async function startOrthanc(opts: OrthancOptions = {}): Promise<Orthanc> {
  const missing = orthancMissing();
  if (missing.length) throw new Error(`Orthanc cannot start: install ${missing.join(' ')}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-orthanc-'));
  try {
    const httpPort = await freePort();
    const config = {
      Name: 'TESSERA-TEST',
      StorageDirectory: path.join(dir, 'storage'),
      IndexDirectory: path.join(dir, 'index'),
      HttpPort: httpPort,
      // Its DICOM (DIMSE) listener would sit on every interface: off, everything goes over HTTP,
      // which RemoteAccessAllowed=false keeps to loopback.
      DicomServerEnabled: false,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      HttpServerEnabled: true,
      // No storage quota: nothing a test stored is recycled behind its back.
      MaximumStorageSize: 0,
      HttpTimeout: 60,
      Plugins: PLUGIN_FILES.map((f) => path.join(ORTHANC_PLUGINS, f)),
      DicomWeb: {
        Enable: true,
        Root: '/dicom-web/',
        EnableWado: false,
        Servers: opts.dicomwebServers ?? {},
      },
      ...opts.extra,
    };
    const configFile = path.join(dir, 'orthanc.json');
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const child = startChild('Orthanc', [configFile], { cwd: dir });
    const url = `http://127.0.0.1:${httpPort}`;
    try {
      await waitForHttp(`${url}/system`, child, opts.timeoutMs ?? 30_000);
    } catch (e) {
      await child.stop(500);
      throw e;
    }
    const rest = async <T>(p: string, init: RequestInit = {}): Promise<T> => {
      const res = await fetch(`${url}${p}`, { ...init, signal: init.signal ?? AbortSignal.timeout(120_000) });
      const text = await res.text();
      if (!res.ok)
        throw new Error(`Orthanc ${init.method ?? 'GET'} ${p}: HTTP ${res.status} ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : null) as T;
    };
    return {
      url,
      dicomweb: `${url}/dicom-web`,
      dir,
      child,
      rest,
      store: (file) =>
        rest('/instances', {
          method: 'POST',
          body: new Uint8Array(file),
          headers: { 'content-type': 'application/dicom' },
        }),
      async lookup(uid) {
        const found = await rest<{ ID: string }[]>('/tools/lookup', { method: 'POST', body: uid });
        return found[0]?.ID ?? null;
      },
      async stop() {
        await child.stop(3000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Why Orthanc stopped early, from its own output. */
export function orthancTail(o: Orthanc): string {
  return lastLines(o.child.stderrTail(), 10);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = await startOrthanc();
  console.log(`Orthanc at ${o.url} (DICOMweb ${o.dicomweb}), folder ${o.dir}; Ctrl-C stops it`);
  const stop = (): void => {
    void o.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
