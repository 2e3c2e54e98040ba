/**
 * Who registers and changes AI algorithms: administrators anything; lab managers only the
 * algorithms built into Tessera (the reference algorithm), whose name, version and command the
 * server fills in, and of those only whether and when they run and how much; a command or URL of
 * their own, identified data, or an administrator's algorithm is refused. Real server over HTTP,
 * real SQLite (PostgreSQL in test:postgres).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlgorithmDto, AuditPage, BuiltinAlgorithmDto } from '../protocol/index.ts';
import { REFERENCE_COMMAND, REPO, json } from './helpers/ai.ts';
import { type TestServer, startTestServer } from './helpers/server.ts';

let s: TestServer;
let reference: AlgorithmDto;
let external: AlgorithmDto;

const post = (user: string, body: unknown) =>
  s.as(user, '/api/ai/algorithms', { method: 'POST', body: JSON.stringify(body) });
const patch = (user: string, id: string, body: unknown) =>
  s.as(user, `/api/ai/algorithms/${id}`, { method: 'PATCH', body: JSON.stringify(body) });

async function refused(res: Promise<Response>, status: number, message?: RegExp): Promise<void> {
  const r = await res;
  const body = (await r.json()) as { message: string };
  expect(r.status, body.message).toBe(status);
  if (message) expect(body.message).toMatch(message);
}

beforeAll(async () => {
  s = await startTestServer('tessera-ai-roles-', [
    ['root', 'admin', 'hq'],
    ['lab', 'lab_manager', 'north'],
    ['labs', 'lab_manager', 'south'],
    ['ann', 'pathologist', 'north'],
  ]);
  external = await json<AlgorithmDto>(
    post('root', {
      name: 'Vendor tumour finder',
      version: '2',
      endpoint: { kind: 'http', url: 'http://127.0.0.1:9/jobs' },
    }),
    201,
  );
});

afterAll(async () => {
  await s?.close();
});

describe('AI algorithm registry by role', () => {
  it('lab managers and administrators see the built-ins; only administrators see their command', async () => {
    const forLab = await json<BuiltinAlgorithmDto[]>(s.as('lab', '/api/ai/builtins'));
    expect(forLab).toHaveLength(1);
    expect(forLab[0]).toMatchObject({ key: 'reference', endpoint: null, registeredId: null });
    expect(forLab[0]!.name).toMatch(/reference/i);
    const forAdmin = await json<BuiltinAlgorithmDto[]>(s.as('root', '/api/ai/builtins'));
    expect(forAdmin[0]!.endpoint).toEqual({ kind: 'command', argv: REFERENCE_COMMAND });
    await refused(s.as('ann', '/api/ai/builtins'), 403);
  });

  it('a lab manager registers the reference algorithm: the server fills in its name, version and command', async () => {
    reference = await json<AlgorithmDto>(
      post('lab', { builtin: 'reference', trigger: 'automatic', enabled: true, timeoutSeconds: 120 }),
      201,
    );
    expect(reference).toMatchObject({
      builtin: 'reference',
      trigger: 'automatic',
      enabled: true,
      identifiedData: false,
      timeoutSeconds: 120,
      endpoint: {
        kind: 'command',
        argv: [process.execPath, path.join(REPO, 'scripts/bin/tessera.mjs'), 'ai-reference', '--job', '-'],
      },
    });
    expect(reference.name).toMatch(/reference/i);
    // Listed as registered; the list says which algorithms are built-ins (to everyone who sees it).
    const builtins = await json<BuiltinAlgorithmDto[]>(s.as('lab', '/api/ai/builtins'));
    expect(builtins[0]!.registeredId).toBe(reference.id);
    const list = await json<AlgorithmDto[]>(s.as('lab', '/api/ai/algorithms'));
    expect(list.find((a) => a.id === reference.id)).toMatchObject({ builtin: 'reference', endpoint: null });
    expect(list.find((a) => a.id === external.id)).toMatchObject({ builtin: null, endpoint: null });
    // Audited as any registration, saying which built-in.
    const audit = await json<AuditPage>(s.as('root', '/api/audit?action=ai.algorithm_create&limit=100'));
    const entry = audit.entries.find((e) => e.targetId === reference.id)!;
    expect(entry).toMatchObject({
      userName: expect.stringMatching(/lab/) as unknown,
      targetType: 'algorithm',
    });
    expect(entry.detail).toMatchObject({ builtin: 'reference', identifiedData: false });
  });

  it('registering it again is a conflict', async () => {
    await refused(post('lab', { builtin: 'reference' }), 409, /already registered/);
    await refused(post('root', { builtin: 'reference' }), 409, /already registered/);
  });

  it('a lab manager may not register a command or an HTTP endpoint, nor add one to a built-in', async () => {
    await refused(
      post('lab', {
        name: 'Mine',
        version: '1',
        endpoint: { kind: 'command', argv: ['/bin/sh', '-c', 'id'] },
      }),
      403,
      /administrator/,
    );
    await refused(
      post('lab', {
        name: 'Mine',
        version: '1',
        endpoint: { kind: 'http', url: 'https://example.org/jobs' },
      }),
      403,
      /administrator/,
    );
    await refused(
      post('lab', { builtin: 'reference', endpoint: { kind: 'command', argv: ['/bin/sh'] } }),
      403,
      /administrator/,
    );
    // Nor identified data, a name of its own, or an unknown built-in.
    await refused(post('lab', { builtin: 'reference', identifiedData: true }), 400);
    await refused(post('lab', { builtin: 'reference', name: 'Renamed' }), 400);
    await refused(post('lab', { builtin: 'rm-rf' }), 400);
    const list = await json<AlgorithmDto[]>(s.as('root', '/api/ai/algorithms'));
    expect(list.map((a) => a.id).sort()).toEqual([reference.id, external.id].sort());
  });

  it('a pathologist may register nothing, not even a built-in', async () => {
    await refused(post('ann', { builtin: 'reference' }), 403);
    await refused(
      post('ann', {
        name: 'Mine',
        version: '1',
        endpoint: { kind: 'http', url: 'https://example.org/jobs' },
      }),
      403,
    );
    await refused(patch('ann', reference.id, { enabled: false }), 403);
  });

  it('a lab manager changes whether and when a built-in runs, audited', async () => {
    const changed = await json<AlgorithmDto>(
      patch('lab', reference.id, { trigger: 'on_request', concurrency: 1, appliesTo: { stains: ['he'] } }),
    );
    expect(changed).toMatchObject({ trigger: 'on_request', concurrency: 1, appliesTo: { stains: ['he'] } });
    expect(changed.endpoint).toEqual(reference.endpoint);
    const off = await json<AlgorithmDto>(patch('lab', reference.id, { enabled: false }));
    expect(off.enabled).toBe(false);
    await json<AlgorithmDto>(patch('lab', reference.id, { enabled: true }));
    const audit = await json<AuditPage>(s.as('root', '/api/audit?action=ai.*&limit=100'));
    const mine = audit.entries.filter((e) => e.targetId === reference.id).map((e) => e.action);
    expect(mine).toEqual([
      'ai.algorithm_enable',
      'ai.algorithm_disable',
      'ai.algorithm_update',
      'ai.algorithm_create',
    ]);
  });

  it('a lab manager may not change a built-in’s endpoint, identified data or description', async () => {
    await refused(
      patch('lab', reference.id, { endpoint: { kind: 'command', argv: ['/bin/sh', '-c', 'id'] } }),
      403,
      /endpoint only an administrator/,
    );
    await refused(patch('lab', reference.id, { identifiedData: true }), 403, /identifiedData/);
    await refused(patch('lab', reference.id, { description: 'mine now' }), 403);
    await refused(patch('lab', reference.id, { enabled: false, identifiedData: true }), 403);
    const now = await json<AlgorithmDto>(s.as('root', `/api/ai/algorithms/${reference.id}`));
    expect(now).toMatchObject({ identifiedData: false, enabled: true, endpoint: reference.endpoint });
  });

  it('a lab manager may not change an algorithm an administrator registered with its own endpoint', async () => {
    await refused(patch('lab', external.id, { enabled: false }), 403, /only an administrator/);
    await refused(patch('lab', external.id, { trigger: 'automatic' }), 403);
    expect((await json<AlgorithmDto>(s.as('root', `/api/ai/algorithms/${external.id}`))).enabled).toBe(true);
    // Nor make one a built-in's look-alike: the endpoint is an administrator's to set.
    await refused(patch('lab', external.id, { endpoint: { kind: 'command', argv: REFERENCE_COMMAND } }), 403);
  });

  it('a lab manager of another site may not change the built-in a site registered', async () => {
    await refused(patch('labs', reference.id, { enabled: false }), 403, /another site/);
    await refused(patch('labs', reference.id, { trigger: 'automatic' }), 403, /another site/);
    // As the north lab manager left it.
    const now = await json<AlgorithmDto>(s.as('root', `/api/ai/algorithms/${reference.id}`));
    expect(now).toMatchObject({ enabled: true, trigger: 'on_request' });
    // Its own site's lab manager still may.
    expect((await json<AlgorithmDto>(patch('lab', reference.id, { enabled: true }))).enabled).toBe(true);
  });

  it('an administrator still registers and changes anything', async () => {
    const cmd = await json<AlgorithmDto>(
      post('root', {
        name: 'Local tool',
        version: '1',
        endpoint: { kind: 'command', argv: ['/usr/bin/true'] },
        identifiedData: true,
      }),
      201,
    );
    expect(cmd).toMatchObject({ builtin: null, identifiedData: true });
    const changed = await json<AlgorithmDto>(patch('root', reference.id, { description: 'ours' }));
    expect(changed.description).toBe('ours');
    // An endpoint moved off the built-in's command is no longer one a lab manager may change.
    await json<AlgorithmDto>(patch('root', cmd.id, { enabled: false }));
    const moved = await json<AlgorithmDto>(
      patch('root', reference.id, { endpoint: { kind: 'http', url: 'http://127.0.0.1:9/jobs' } }),
    );
    expect(moved.builtin).toBeNull();
    await refused(patch('lab', reference.id, { enabled: false }), 403);
  });
});
