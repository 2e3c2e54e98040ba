import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const root = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const BIN = path.resolve('scripts/bin/tessera.mjs');

function tessera(...args: string[]) {
  return tesseraIn(undefined, ...args);
}

function tesseraIn(input: string | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    ...(input !== undefined ? { input } : {}),
    timeout: 120_000,
    env: { ...process.env, TESSERA_DATA: path.join(root, 'data') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tessera command line', () => {
  it('no command prints usage and exits 2', () => {
    const r = tessera();
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/usage: tessera/);
  });

  it('an unknown option is one line on stderr and exit code 2', () => {
    const r = tessera('ingest', '--frobnicate', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*frobnicate/);
  });

  it('a worker without Redis, or with a bad job setting, says what to set: exit 2, one line', () => {
    const env = { ...process.env, TESSERA_DATA: path.join(root, 'data'), TESSERA_REDIS_URL: '' };
    const run = (extra: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [BIN, 'worker'], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...env, ...extra },
      });
    const none = run({});
    expect(none.status).toBe(2);
    expect(none.stderr.trim()).toBe(
      'error: tessera worker takes its jobs from Redis: set TESSERA_REDIS_URL (redis://host:port)',
    );
    const bad = run({ TESSERA_REDIS_URL: 'redis://127.0.0.1:1', TESSERA_JOB_LOCK_SECONDS: '0' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^error: .*TESSERA_JOB_LOCK_SECONDS/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a bad --tile-size names the setting', () => {
    const r = tessera('ingest', '--tile-size', '300', 'x.svs');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tile size must be 256 or 512/);
  });

  it.skipIf(!have)(
    'ingest --json prints one JSON line per slide; a failed input gives exit 1 and one error line',
    () => {
      const junk = path.join(root, 'junk.svs');
      writeFileSync(junk, 'not a slide');
      const r = tessera(
        'ingest',
        '--json',
        slidePath('aperio/CMU-1-Small-Region.svs'),
        junk,
        slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm'),
      );
      expect(r.code).toBe(1);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(Object.keys(lines[0]!)).toEqual([
        'id',
        'name',
        'sourceFormat',
        'width',
        'height',
        'levels',
        'tileSize',
        'mppX',
        'mppY',
        'objectivePower',
      ]);
      expect(lines[0]).toMatchObject({
        sourceFormat: 'aperio-svs',
        width: 2220,
        height: 2967,
        // The scanner's own tile size: its JPEG tiles are kept as they are.
        tileSize: 240,
        objectivePower: 20,
      });
      expect(lines[1]).toMatchObject({
        sourceFormat: 'dicom',
        width: 957,
        height: 715,
        objectivePower: null,
      });
      const errors = r.stderr.trim().split('\n');
      expect(errors).toEqual([`error: ${junk}: not an image file: its content matches no known format`]);
    },
  );

  it.skipIf(!have)('info shows format, levels and µm/px without ingesting', () => {
    const r = tessera('info', slidePath('hamamatsu/orbit-test3-DAPI-387.ndpi'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format\s+hamamatsu-ndpi/);
    expect(r.stdout).toMatch(/3968 x 4864/);
    expect(r.stdout).toMatch(/0\.228/);
    expect(r.stdout).toMatch(/levels\s+7/);
  });

  it('info on a missing file: exit 1, one line', () => {
    const r = tessera('info', path.join(root, 'nope.svs'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no such file/);
  });
});

describe('tessera accounts commands', () => {
  it('the README path: first admin from stdin, a token, the audit trail; wrong input exits 1 or 2 with one line', async () => {
    const dataDir = path.join(root, 'accounts');
    const add = tesseraIn(
      'a-long-password\n',
      'user',
      'add',
      '--name',
      'ada',
      '--role',
      'admin',
      '--site',
      'North Trust',
      '--password-stdin',
      '--data',
      dataDir,
    );
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/user ada \(admin\) added to site north-trust \(new site\)/);
    const again = tesseraIn(
      'a-long-password\n',
      'user',
      'add',
      '--name',
      'ada',
      '--role',
      'admin',
      '--site',
      'north-trust',
      '--password-stdin',
      '--data',
      dataDir,
    );
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('error: user ada already exists');
    const short = tesseraIn(
      'short\n',
      'user',
      'add',
      '--name',
      'bo',
      '--role',
      'pathologist',
      '--site',
      'north-trust',
      '--password-stdin',
      '--data',
      dataDir,
    );
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 10 characters/);
    const noStdin = tessera(
      'user',
      'add',
      '--name',
      'cy',
      '--role',
      'admin',
      '--site',
      'x',
      '--data',
      dataDir,
    );
    expect(noStdin.code).toBe(2);
    expect(noStdin.stderr).toMatch(/--password-stdin/);
    const badRole = tesseraIn(
      'a-long-password',
      'user',
      'add',
      '--name',
      'cy',
      '--role',
      'boss',
      '--site',
      'x',
      '--password-stdin',
      '--data',
      dataDir,
    );
    expect(badRole.code).toBe(2);

    const tok = tessera('token', 'create', '--user', 'ada', '--expires', '30d', '--data', dataDir);
    expect(tok.code).toBe(0);
    expect(tok.stdout.trim()).toMatch(/^tsr_[A-Za-z0-9_-]{43}$/);
    expect(tok.stderr).toMatch(/expires 20\d\d-/);
    expect(tessera('token', 'create', '--user', 'nobody', '--data', dataDir).code).toBe(1);
    expect(tessera('token', 'create', '--user', 'ada', '--expires', 'soon', '--data', dataDir).code).toBe(2);

    // The token opens the API of a server on the same data folder.
    const { createServerContext, createApp } = await import('../server/app.ts');
    const { loadConfig } = await import('../server/config.ts');
    const ctx = await createServerContext(loadConfig({ dataDir, port: 0 }, {}), () => {});
    const server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
      const me = await fetch(`${base}/api/auth/me`, {
        headers: { authorization: `Bearer ${tok.stdout.trim()}` },
      });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { user: { name: string } }).user.name).toBe('ada');
    } finally {
      await new Promise((r) => server.close(r));
      await ctx.db.destroy();
    }

    const csv = tessera('audit', 'export', '--format', 'csv', '--data', dataDir);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id,at,user_id/);
    expect(lines.some((l) => l.includes('user.create'))).toBe(true);
    expect(lines.some((l) => l.includes('token.create'))).toBe(true);
    expect(csv.stdout).not.toContain('a-long-password');
    const jsonl = tessera('audit', 'export', '--action', 'user.create', '--data', dataDir);
    expect(
      jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { action: string }).action),
    ).toEqual(['user.create']);
  });
});
