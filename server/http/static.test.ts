import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientRouter } from './static.ts';

const ID = '0123456789abcdef0123456789abcdef';
let dist = '';
let server: Server;
let base = '';

function writeBuild(viewerFile: string): void {
  writeFileSync(
    path.join(dist, 'index.html'),
    '<!doctype html><html><head><title>T</title><script type="module" src="/assets/index-a.js"></script></head><body></body></html>',
  );
  writeFileSync(
    path.join(dist, '.vite', 'manifest.json'),
    JSON.stringify({
      'index.html': { file: 'assets/index-a.js', isEntry: true },
      '_shared-b.js': { file: 'assets/shared-b.js', imports: ['index.html'], css: ['assets/shared-b.css'] },
      'src/viewer/ViewerPage.tsx': {
        file: `assets/${viewerFile}`,
        imports: ['_shared-b.js', 'index.html'],
        css: ['assets/ViewerPage-c.css'],
      },
    }),
  );
}

beforeAll(async () => {
  dist = mkdtempSync(path.join(tmpdir(), 'tessera-dist-'));
  mkdirSync(path.join(dist, 'assets'));
  mkdirSync(path.join(dist, '.vite'));
  writeFileSync(path.join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeBuild('ViewerPage-1.js');
  const app = express();
  app.use(clientRouter(dist));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dist, { recursive: true, force: true });
});

describe("a slide's page", () => {
  it('names the viewer code, its chunks and styles to fetch at once', async () => {
    const res = await fetch(`${base}/view/${ID}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    const head = html.slice(0, html.indexOf('</head>'));
    expect(head).toContain('<link rel="modulepreload" href="/assets/ViewerPage-1.js">');
    expect(head).toContain('<link rel="modulepreload" href="/assets/shared-b.js">');
    expect(head).toContain('<link rel="preload" as="style" href="/assets/ViewerPage-c.css">');
    expect(head).toContain('<link rel="preload" as="style" href="/assets/shared-b.css">');
    expect(head).not.toContain('/api/slides/');
    // The entry is in the page already; named once, it is not preloaded again.
    expect(head.match(/index-a\.js/g)).toHaveLength(1);
  });

  it('carries the slide it is given as a JSON data block that nothing in it can close', async () => {
    const app = express();
    const hostile = { id: ID, name: '</script><script>alert(1)</script><!--' };
    app.use(clientRouter(dist, async (_req, _res, id) => (id === ID ? hostile : null)));
    const s = app.listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    try {
      const at = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const res = await fetch(`${at}/view/${ID}`);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
      const html = await res.text();
      const m = /<script type="application\/json" id="tessera-slide">([^<]*)<\/script>/.exec(html);
      expect(m).not.toBeNull();
      expect(JSON.parse(m![1]!)).toEqual(hostile);
      expect(html).not.toContain('<script>alert');
      // Not visible to the asker: the page carries nothing and may be revalidated like any other.
      const other = await fetch(`${at}/view/${'f'.repeat(32)}`);
      expect(other.headers.get('cache-control')).toBe('no-cache');
      expect(await other.text()).not.toContain('tessera-slide');
    } finally {
      await new Promise((r) => s.close(r));
    }
  });

  it('the library page has no hints; a malformed slide path is not a page', async () => {
    const home = await (await fetch(`${base}/`)).text();
    expect(home).not.toContain('modulepreload');
    expect(home).not.toContain('/api/slides/');
    for (const bad of ['/view/XYZ', `/view/${ID}0`, `/view/${ID.slice(1)}"`, '/view/..%2F..%2Fetc']) {
      const res = await fetch(`${base}${bad}`);
      expect(res.status, bad).toBe(404);
    }
  });

  it('a rebuilt client is picked up without a restart', async () => {
    writeBuild('ViewerPage-2.js');
    const later = new Date(Date.now() + 5000);
    utimesSync(path.join(dist, 'index.html'), later, later);
    const html = await (await fetch(`${base}/view/${ID}`)).text();
    expect(html).toContain('/assets/ViewerPage-2.js');
    expect(html).not.toContain('/assets/ViewerPage-1.js');
  });

  it('the icon is kept a day; the build manifest is not served', async () => {
    const icon = await fetch(`${base}/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('public, max-age=86400');
    expect((await fetch(`${base}/.vite/manifest.json`)).status).toBe(404);
    const index = await fetch(`${base}/index.html`);
    expect(index.headers.get('cache-control')).toBe('no-cache');
  });
});

describe('a client built after the server started', () => {
  it('is served from then on, without a restart', async () => {
    const later = mkdtempSync(path.join(tmpdir(), 'tessera-dist-later-'));
    const app = express();
    app.use(clientRouter(later));
    const s = app.listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    const at = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      const before = await fetch(`${at}/`);
      expect(before.status).toBe(503);
      expect(await before.text()).toMatch(/npm run build/);
      mkdirSync(path.join(later, 'assets'));
      writeFileSync(
        path.join(later, 'index.html'),
        '<!doctype html><html><head></head><body>built</body></html>',
      );
      writeFileSync(path.join(later, 'assets', 'index-z.js'), 'export {};');
      const after = await fetch(`${at}/library`);
      expect(after.status).toBe(200);
      expect(await after.text()).toContain('built');
      expect((await fetch(`${at}/assets/index-z.js`)).status).toBe(200);
    } finally {
      await new Promise((r) => s.close(r));
      rmSync(later, { recursive: true, force: true });
    }
  });
});
