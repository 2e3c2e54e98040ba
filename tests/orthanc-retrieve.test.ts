/**
 * Orthanc (Debian's, with its DICOMweb plugin) configured with Tessera as a remote DICOMweb server,
 * a bearer token in its HTTP headers, pulls a whole series out of Tessera with its own REST API
 * (`/dicom-web/servers/tessera/retrieve`). What it then holds is what Tessera serves: as many
 * instances, the same UIDs, each stored file the one Tessera's WADO-RS retrieve sends, and frames
 * Orthanc serves in turn equal to Tessera's frames.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import type { DicomJson } from '../tiles/export/dicom-json.ts';
import { ingest } from '../tiles/index.ts';
import { userWithToken } from './helpers/auth.ts';
import { type Orthanc, requireOrthanc, startOrthanc } from './helpers/orthanc.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const ready = requireSlides() && requireOrthanc('Orthanc retrieving from Tessera');
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
let dir = '';
let ctx: ServerContext;
let server: Server;
let api = '';
let token = '';
let cmu: Manifest;
let orthanc: Orthanc;
let study = '';
let series = '';
/** Requests Tessera received (Orthanc's and the test's own), with their Accept and status. */
const seen: { method: string; url: string; accept: string; status?: number }[] = [];

const value = (ds: DicomJson | undefined, t: string): unknown => ds?.[t]?.Value?.[0];
const auth = (): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  if (!ready) return;
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-orthanc-retrieve-'));
  ctx = await createServerContext(
    loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {}),
    () => {},
  );
  token = (await userWithToken(ctx.db, { name: 'archive', role: 'pathologist', siteId: 'north' })).token;
  ({ manifest: cmu } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
    tileSize: 256,
    jpegQuality: 92,
  }));
  await ctx.slides.register(cmu, 'north');
  const handler = createHandler(ctx, createApp(ctx));
  server = createServer((req, res) => {
    const entry: (typeof seen)[number] = {
      method: req.method ?? '',
      url: req.url ?? '',
      accept: String(req.headers.accept ?? ''),
    };
    seen.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const studies = (await (await fetch(`${api}/dicomweb/studies`, auth())).json()) as DicomJson[];
  study = String(value(studies[0], '0020000D'));
  const found = (await (
    await fetch(`${api}/dicomweb/studies/${study}/series`, auth())
  ).json()) as DicomJson[];
  series = String(value(found[0], '0020000E'));
  orthanc = await startOrthanc({
    dicomwebServers: {
      tessera: { Url: `${api}/dicomweb/`, HttpHeaders: { Authorization: `Bearer ${token}` } },
      // The same server with a token Tessera never issued.
      stranger: { Url: `${api}/dicomweb/`, HttpHeaders: { Authorization: 'Bearer not-a-token' } },
    },
  });
}, 180_000);

afterAll(async () => {
  if (!ready) return;
  await orthanc?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await ctx?.tiles.close();
  await ctx?.db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** multipart/related bodies, parsed by hand: each part's Content-Type and bytes. */
async function parts(res: Response): Promise<{ type: string; body: Buffer }[]> {
  expect(res.status).toBe(200);
  const contentType = res.headers.get('content-type') ?? '';
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  expect(boundary, contentType).toBeTruthy();
  const body = Buffer.from(await res.arrayBuffer());
  const delim = Buffer.from(`--${boundary}`);
  const out: { type: string; body: Buffer }[] = [];
  let at = body.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(delim, headEnd);
    out.push({
      type: /Content-Type: *([^\r\n]+)/i.exec(body.subarray(start, headEnd).toString())?.[1] ?? '',
      body: body.subarray(headEnd + 4, next - 2),
    });
    at = next;
  }
  return out;
}

/** A JPEG frame without DICOM's even-length pad (one 0x00 after EOI), as Tessera sends frames. */
function unpadded(f: Buffer): Buffer {
  return f.length > 2 && f.at(-1) === 0 && f.at(-2) === 0xd9 && f.at(-3) === 0xff ? f.subarray(0, -1) : f;
}

const FRAME_ACCEPT = `multipart/related; type="image/jpeg"; transfer-syntax=${JPEG_BASELINE}`;

describe.skipIf(!ready)('Orthanc retrieves a series from Tessera over DICOMweb', () => {
  /** Tessera's instances of the series (QIDO), by SOP Instance UID. */
  let tessera: Map<string, DicomJson>;
  /** Orthanc's ids of what it received, by SOP Instance UID. */
  const held = new Map<string, string>();

  beforeAll(async () => {
    const res = await fetch(`${api}/dicomweb/studies/${study}/series/${series}/instances`, auth());
    const found = (await res.json()) as DicomJson[];
    tessera = new Map(found.map((i) => [String(value(i, '00080018')), i]));
    const answer = await orthanc.rest<{ ReceivedInstancesCount: string | number }>(
      '/dicom-web/servers/tessera/retrieve',
      { method: 'POST', body: JSON.stringify({ Resources: [{ Study: study, Series: series }] }) },
    );
    expect(Number(answer.ReceivedInstancesCount)).toBe(tessera.size);
    for (const id of await orthanc.rest<string[]>('/instances')) {
      const tags = await orthanc.rest<Record<string, string>>(`/instances/${id}/simplified-tags`);
      held.set(tags.SOPInstanceUID!, id);
    }
  }, 180_000);

  it('asked Tessera for the series as stored (transfer-syntax=*) with the bearer token it was given', () => {
    const retrieves = seen.filter((r) => r.url === `/dicomweb/studies/${study}/series/${series}`);
    expect(retrieves).toHaveLength(1);
    expect(retrieves[0]!.status).toBe(200);
    expect(retrieves[0]!.accept).toMatch(/type="?application\/dicom"?/);
    expect(retrieves[0]!.accept).toMatch(/transfer-syntax=\*/);
  });

  it('holds as many instances as Tessera serves, with the same UIDs, in one study and one series', async () => {
    // Every level, the label and the overview.
    expect(tessera.size).toBe(cmu.levels + 2);
    expect([...held.keys()].sort()).toEqual([...tessera.keys()].sort());
    const studies = await orthanc.rest<string[]>('/studies');
    expect(studies).toHaveLength(1);
    const s = await orthanc.rest<{ MainDicomTags: { StudyInstanceUID: string }; Series: string[] }>(
      `/studies/${studies[0]}`,
    );
    expect(s.MainDicomTags.StudyInstanceUID).toBe(study);
    expect(s.Series).toHaveLength(1);
    const ser = await orthanc.rest<{ MainDicomTags: { SeriesInstanceUID: string }; Instances: string[] }>(
      `/series/${s.Series[0]}`,
    );
    expect(ser.MainDicomTags.SeriesInstanceUID).toBe(series);
    expect(ser.Instances).toHaveLength(tessera.size);
  });

  it('each file Orthanc stored is the one Tessera’s WADO-RS retrieve sends, byte for byte', async () => {
    for (const [sop, id] of held) {
      const sent = await parts(
        await fetch(`${api}/dicomweb/studies/${study}/series/${series}/instances/${sop}`, {
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
          },
        }),
      );
      expect(sent).toHaveLength(1);
      const stored = Buffer.from(await (await fetch(`${orthanc.url}/instances/${id}/file`)).arrayBuffer());
      expect(stored.length, sop).toBe(sent[0]!.body.length);
      expect(stored.equals(sent[0]!.body), sop).toBe(true);
    }
  });

  it('frames Orthanc serves over its own DICOMweb are Tessera’s frames (first, inner, last of level 0)', async () => {
    const level0 = [...tessera.values()].find(
      (i) => i['00080008']?.Value?.[2] === 'VOLUME' && value(i, '00480006') === cmu.width,
    );
    const sop = String(value(level0, '00080018'));
    const n = Number(value(level0, '00280008'));
    expect(n).toBe(cmu.levelInfo[0]!.tilesX * cmu.levelInfo[0]!.tilesY);
    const pick = `1,${Math.ceil(n / 2)},${n}`;
    const path = `/studies/${study}/series/${series}/instances/${sop}/frames/${pick}`;
    const fromOrthanc = await parts(
      await fetch(`${orthanc.dicomweb}${path}`, { headers: { accept: FRAME_ACCEPT } }),
    );
    const fromTessera = await parts(
      await fetch(`${api}/dicomweb${path}`, {
        headers: { authorization: `Bearer ${token}`, accept: FRAME_ACCEPT },
      }),
    );
    expect(fromOrthanc).toHaveLength(3);
    expect(fromTessera).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      expect(fromOrthanc[i]!.type).toMatch(/^image\/jpeg/);
      // Orthanc sends the encapsulated fragment as stored, with DICOM's even-length pad.
      expect(unpadded(fromOrthanc[i]!.body).equals(fromTessera[i]!.body), `frame ${pick.split(',')[i]}`).toBe(
        true,
      );
    }
  });

  it('with a token Tessera did not issue, Orthanc gets 401 and nothing', async () => {
    const before = seen.length;
    await expect(
      orthanc.rest('/dicom-web/servers/stranger/retrieve', {
        method: 'POST',
        body: JSON.stringify({ Resources: [{ Study: study, Series: series }] }),
      }),
    ).rejects.toThrow(/HTTP/);
    const asked = seen.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => r.status === 401)).toBe(true);
    expect(await orthanc.rest<string[]>('/instances')).toHaveLength(tessera.size);
  });

  it('Orthanc’s WSI plugin finds every level of the pyramid, with Tessera’s tiles', async () => {
    const seriesId = (await orthanc.lookup(series))!;
    const pyramid = await orthanc.rest<{
      TotalWidth: number;
      TotalHeight: number;
      Sizes: [number, number][];
      TilesSizes: [number, number][];
    }>(`/wsi/pyramids/${seriesId}`);
    expect([pyramid.TotalWidth, pyramid.TotalHeight]).toEqual([cmu.width, cmu.height]);
    const levels = [...tessera.values()].filter((i) => i['00080008']?.Value?.[2] === 'VOLUME');
    expect(levels).toHaveLength(cmu.levels);
    for (const l of levels) {
      const size = [value(l, '00480006'), value(l, '00480007')];
      const at = pyramid.Sizes.findIndex((s) => s[0] === size[0] && s[1] === size[1]);
      expect(at, `level ${size.join('x')}`).toBeGreaterThanOrEqual(0);
      expect(pyramid.TilesSizes[at]).toEqual([cmu.tileSize, cmu.tileSize]);
    }
    // Orthanc WSI 1.1 does not look at Image Type: besides the levels it lists the label, a
    // one-tile image, as a level of its own (dicom-microscopy-viewer keeps VOLUME images only).
    const label = [...tessera.values()].find((i) => i['00080008']?.Value?.[2] === 'LABEL')!;
    const extra = pyramid.Sizes.filter((s) => !levels.some((l) => value(l, '00480006') === s[0]));
    expect(extra).toEqual([[value(label, '00480006'), value(label, '00480007')]]);
  });
});
