import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cors } from './cors.ts';

/**
 * DICOMweb is read by viewers served from their own sites (Slim, dicom-microscopy-viewer): like Deep
 * Zoom and IIIF it answers every origin with `*` (bearer tokens only: a browser never lets a page read
 * a credentialed answer to `*`), lets them read its Warning header, and takes no writes from them.
 */
const ORIGIN = 'http://viewer.example';
let server: Server;
let base = '';

beforeAll(async () => {
  const app = express();
  // Configured API origins do not change what the open routes answer.
  app.use(cors('http://lims.example'));
  app.all('/{*rest}', (_req, res) => {
    res.setHeader('Warning', '299 tessera "There are additional results that can be requested"');
    res.send('ok');
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const DICOMWEB = [
  '/dicomweb/studies',
  '/dicomweb/studies/1.2.3/series/4.5.6/metadata',
  '/dicomweb/studies/1.2.3/series/4.5.6/instances/7.8.9/frames/1,2',
];

describe('CORS of DICOMweb', () => {
  it('answers any origin with *, and exposes Warning (QIDO paging) to it', async () => {
    for (const p of DICOMWEB) {
      const res = await fetch(`${base}${p}`, { headers: { Origin: ORIGIN } });
      expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      expect(res.headers.get('access-control-expose-headers'), p).toMatch(/\bWarning\b/);
      // Never with credentials: `*` and credentials do not go together.
      expect(res.headers.get('access-control-allow-credentials'), p).toBeNull();
    }
  });

  it('passes the preflight of a GET with Authorization and a DICOMweb Accept, and of nothing else', async () => {
    for (const p of DICOMWEB) {
      const res = await fetch(`${base}${p}`, {
        method: 'OPTIONS',
        headers: {
          Origin: ORIGIN,
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'accept,authorization',
        },
      });
      expect(res.status, p).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), p).toBe('*');
      const allowed = res.headers.get('access-control-allow-headers')?.toLowerCase() ?? '';
      expect(allowed, p).toMatch(/\bauthorization\b/);
      expect(allowed, p).toMatch(/\baccept\b/);
      expect(res.headers.get('access-control-allow-methods'), p).not.toMatch(/POST|PUT|DELETE/);
    }
  });

  it('a path merely starting with the same letters is not DICOMweb', async () => {
    const res = await fetch(`${base}/dicomwebx/studies`, { headers: { Origin: ORIGIN } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
