import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ingestSummary, type Manifest } from '../protocol/index.ts';
import { ConfigError, loadConfig, storeSpec } from '../server/config.ts';
import { DICOM_UID, expandInput, isSlideError, openSlide } from '../tiles/index.ts';
import { ProgressLine } from './progress.ts';
import { CliUsageError, cmdAudit, cmdSite, cmdToken, cmdUser } from './cli-accounts.ts';
import { HttpError } from '../server/http/errors.ts';
import { shellWord } from '../server/auth/setup.ts';

const USAGE = `usage: tessera <command> [options]

commands:
  ingest <file-or-folder>... [--data DIR] [--json] [--tile-size 256|512] [--quality Q]
                             convert slides into the store (a folder: every slide in it)
  info <file-or-folder> [--json]
                             what the reader sees: format, levels, µm/px, associated images
  verify [id]... [--data DIR] [--json] [--strict]
                             re-hash stored slides against their manifests' checksums: exit 0 all
                             match, 1 any changed, missing or extra file; slides stored before
                             checksums were kept show UNCHECKED and fail only with --strict; an
                             unknown id is exit 2
  export <id> --format dicom --out DIR [--data DIR]
                             write a stored slide as a DICOM WSI series (one instance per level,
                             the stored JPEG tiles unchanged; label and overview instances)
  import --dicomweb URL --study UID [--series UID] [--token-stdin | --user NAME --password-stdin]
         [--site SITE] [--json] [--data DIR]
                             pull a study's slide series from a DICOMweb archive (QIDO-RS, WADO-RS)
                             and ingest each; exit 1 for an unknown study or an archive that fails
  serve [--port N] [--host H] [--data DIR] [--workers N]
                             start the server (the same as npm start)
  worker [--data DIR] [--concurrency N]
                             a node that only ingests, from the shared job queue (needs
                             TESSERA_REDIS_URL; see "Running several nodes" in the README)
  user add --name NAME --role ROLE --site SITE --password-stdin [--display-name TEXT]
                             make a user (ROLE: pathologist, specialist, lab_manager, admin);
                             a new SITE is made on first use
  user list [--json] | user passwd --name NAME --password-stdin | user disable|enable --name NAME
  site add --name NAME [--id ID] | site list
  token create --user NAME [--expires 30d|never] [--label TEXT]
                             print a bearer token for the API (default expiry 90d)
  token revoke TOKEN-ID
  demo [--data DIR] [--small] [--slides N]
                             seed a demo network (sites, pathologists, cases, generated slides) and
                             print how to sign in as its lab manager
  ai-reference --port N [--host H] [--concurrency N] | ai-reference --job -
                             the reference AI algorithm (tissue detection, haematoxylin heat map)
                             as an HTTP endpoint, or one job from standard input (a local command)
  audit export [--format jsonl|csv] [--out FILE] [--from ISO] [--to ISO] [--user NAME] [--action A]
                             the audit trail, oldest last
  (every command takes --data DIR)

environment: TESSERA_DATA, TESSERA_PORT, DATABASE_URL (postgres://…; default SQLite in the data folder)`;

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function cmdIngest(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    'tile-size': { type: 'string' },
    quality: { type: 'string' },
    site: { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('ingest needs at least one file or folder');
  const config = loadConfig({
    dataDir: values.data,
    tileSize: values['tile-size'],
    jpegQuality: values.quality,
  });
  const json = values.json === true;
  const inputs: string[] = [];
  let failed = 0;
  for (const arg of positionals) {
    const found = await expandInput(arg);
    if (found.length === 0) {
      console.error(`error: ${arg}: no slides found in this folder`);
      failed++;
    }
    inputs.push(...found);
  }
  const { openDb } = await import('../server/db/index.ts');
  const { SlideRepo } = await import('../server/db/slides.ts');
  const { JobRepo } = await import('../server/db/jobs.ts');
  const { ingestWithJob, failureReason } = await import('./cli-ingest.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  const repo = new SlideRepo(db);
  const jobs = new JobRepo(db);
  try {
    if (values.site !== undefined) {
      const { siteName } = await import('../server/auth/users.ts');
      if ((await siteName(db, values.site)) === null)
        throw new UsageError(`no site ${values.site} (tessera site list shows them; site add makes one)`);
    }
    for (const [i, input] of inputs.entries()) {
      const label =
        inputs.length > 1 ? `[${i + 1}/${inputs.length}] ${path.basename(input)}` : path.basename(input);
      const bar = new ProgressLine(label);
      let manifest: Manifest;
      let created: boolean;
      const name = path.basename(input).replace(/\.[^.]+$/, '') || path.basename(input);
      try {
        ({ manifest, created } = await ingestWithJob(config, { slides: repo, jobs }, input, {
          name,
          site: values.site ?? null,
          onProgress: (percent, stage) => bar.update(percent, stage),
        }));
      } catch (e) {
        bar.stop();
        failed++;
        console.error(`error: ${input}: ${failureReason(e)}`);
        continue;
      }
      bar.stop();
      if (json) process.stdout.write(`${JSON.stringify(ingestSummary(manifest))}\n`);
      else {
        const mpp = manifest.mppX ? `${manifest.mppX.toFixed(4)} µm/px` : 'no µm/px';
        console.log(
          `${created ? 'stored' : 'already stored'}: ${input} -> ${manifest.id} (${manifest.sourceFormat}, ${manifest.width}x${manifest.height}, ${manifest.levels} level${manifest.levels === 1 ? '' : 's'}, ${mpp})`,
        );
      }
    }
  } finally {
    await db.destroy();
  }
  return failed === 0 ? 0 : 1;
}

async function cmdInfo(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  if (positionals.length !== 1) throw new UsageError('info takes exactly one file or folder');
  const input = positionals[0]!;
  try {
    const s = await openSlide(input);
    try {
      const info = {
        path: path.resolve(input),
        format: s.format,
        name: s.name,
        width: s.width,
        height: s.height,
        levels: s.levels,
        mppX: s.mppX,
        mppY: s.mppY,
        objectivePower: s.objectivePower,
        associated: s.associated,
        rendering: s.rendering,
        properties: s.properties,
      };
      if (values.json) {
        console.log(JSON.stringify(info));
        return 0;
      }
      console.log(`${info.path}`);
      console.log(`  format          ${info.format}`);
      console.log(`  size            ${info.width} x ${info.height} px`);
      console.log(`  µm/pixel        ${info.mppX ?? '—'} x ${info.mppY ?? '—'}`);
      console.log(`  objective       ${info.objectivePower ? `${info.objectivePower}x` : '—'}`);
      console.log(`  associated      ${info.associated.length ? info.associated.join(', ') : '—'}`);
      if (info.rendering) console.log(`  rendering       ${info.rendering}`);
      console.log(`  levels          ${info.levels.length}`);
      for (const [i, l] of info.levels.entries()) {
        console.log(
          `    ${String(i).padStart(2)}  ${l.width} x ${l.height}  (1/${round(l.downsample)})  tile ${l.tileWidth} x ${l.tileHeight}`,
        );
      }
      console.log(`  properties      ${Object.keys(info.properties).length} (--json lists them)`);
      return 0;
    } finally {
      await s.close();
    }
  } catch (e) {
    if (!isSlideError(e)) throw e;
    console.error(`error: ${input}: ${e.message}`);
    return 1;
  }
}

async function cmdVerifyArgs(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
  });
  const config = loadConfig({ dataDir: values.data });
  const { cmdVerify } = await import('./cli-verify.ts');
  return cmdVerify(config.dataDir, positionals, {
    store: storeSpec(config),
    json: values.json === true,
    strict: values.strict === true,
  });
}

async function cmdExport(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('export takes one slide id');
  if (values.format !== 'dicom')
    throw new UsageError(`Expected dicom for --format but received ${JSON.stringify(values.format ?? '')}`);
  if (!values.out) throw new UsageError('export needs --out DIR');
  const config = loadConfig({ dataDir: values.data });
  const { createStore } = await import('../tiles/index.ts');
  const { cmdExportDicom } = await import('./cli-export.ts');
  return cmdExportDicom(config, createStore(storeSpec(config)), positionals[0]!, values.out);
}

async function cmdImport(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    dicomweb: { type: 'string' },
    study: { type: 'string' },
    series: { type: 'string' },
    user: { type: 'string' },
    'password-stdin': { type: 'boolean', default: false },
    'token-stdin': { type: 'boolean', default: false },
    site: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length) throw new UsageError('import takes options only: --dicomweb URL --study UID');
  if (!values.dicomweb) throw new UsageError("import needs --dicomweb URL (the archive's DICOMweb root)");
  for (const key of ['study', 'series'] as const) {
    const v = values[key];
    if ((key === 'study' || v !== undefined) && !DICOM_UID.test(v ?? ''))
      throw new UsageError(
        `Expected a DICOM UID (digits and dots, at most 64) for --${key} but received ${JSON.stringify(v ?? '')}`,
      );
  }
  if (values['token-stdin'] && values.user) throw new UsageError('give --token-stdin or --user, not both');
  if (values['password-stdin'] && !values.user)
    throw new UsageError('--password-stdin goes with --user NAME');
  const config = loadConfig({ dataDir: values.data });
  const { readPassword } = await import('./cli-accounts.ts');
  const bearer = values['token-stdin'] ? (await readPassword('token: ')).trim() : undefined;
  const basic = values.user
    ? { user: values.user, password: values['password-stdin'] ? await readPassword('password: ') : '' }
    : undefined;
  const { cmdImportDicomweb } = await import('./cli-import.ts');
  return cmdImportDicomweb(config, {
    url: values.dicomweb,
    study: values.study!,
    series: values.series,
    bearer,
    basic,
    site: values.site ?? null,
    json: values.json === true,
  });
}

async function cmdServe(args: string[]): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    data: { type: 'string' },
    workers: { type: 'string' },
  });
  const config = loadConfig({
    port: values.port,
    host: values.host,
    dataDir: values.data,
    workers: values.workers,
  });
  const { runServer } = await import('../server/main.ts');
  await runServer(config);
  return new Promise<number>(() => {});
}

async function cmdWorker(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string' },
    concurrency: { type: 'string' },
  });
  const config = loadConfig({ dataDir: values.data, ingestConcurrency: values.concurrency });
  const { runWorker } = await import('../server/main.ts');
  await runWorker(config);
  return new Promise<number>(() => {});
}

async function cmdAiReference(args: string[]): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    concurrency: { type: 'string', default: '2' },
    job: { type: 'string' },
  });
  const log = (m: string): void => console.error(m);
  const { runFromStdin, serveReference } = await import('./ai-reference/main.ts');
  if (values.job !== undefined) {
    if (values.job !== '-') throw new UsageError('ai-reference --job takes - (the job on standard input)');
    try {
      return await runFromStdin(log);
    } catch (e) {
      console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
  }
  const port = Number(values.port);
  const concurrency = Number(values.concurrency);
  if (values.port === undefined || !/^\d+$/.test(values.port) || port > 65535)
    throw new UsageError(`Expected --port between 0 and 65535 but received ${values.port ?? 'nothing'}`);
  if (!/^\d+$/.test(values.concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError(`Expected --concurrency between 1 and 64 but received ${values.concurrency}`);
  const { url } = await serveReference({ port, host: values.host, concurrency }, log);
  console.log(`reference algorithm listening on ${url}`);
  return new Promise<number>(() => {});
}

async function cmdDemo(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string' },
    small: { type: 'boolean', default: false },
    slides: { type: 'string', default: '3' },
  });
  const slides = Number(values.slides);
  if (!/^\d+$/.test(values.slides) || slides > 20)
    throw new UsageError(`Expected --slides between 0 and 20 but received ${values.slides}`);
  const config = loadConfig({ dataDir: values.data });
  const { openDb } = await import('../server/db/index.ts');
  const { runDemo } = await import('./demo/demo.ts');
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  try {
    const r = await runDemo(db, {
      dataDir: config.dataDir,
      store: storeSpec(config),
      small: values.small === true,
      slides,
      log: (l) => console.error(l),
    });
    console.log(
      `demo ready in ${config.dataDir}: start the server with \`npm start -- --data ${shellWord(config.dataDir)}\` and sign in at /login`,
    );
    console.log(
      `  lab manager: ${r.manager}   administrator: ${r.admin}   password (all demo users): ${r.password}`,
    );
    return 0;
  } finally {
    await db.destroy();
  }
}

async function cmdAccounts(cmd: 'user' | 'site' | 'token' | 'audit', args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    data: { type: 'string' },
    name: { type: 'string' },
    'display-name': { type: 'string' },
    role: { type: 'string' },
    site: { type: 'string' },
    id: { type: 'string' },
    user: { type: 'string' },
    expires: { type: 'string' },
    label: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    action: { type: 'string' },
    json: { type: 'boolean' },
    'password-stdin': { type: 'boolean' },
  });
  const [sub, ...rest] = positionals;
  if (cmd === 'user') return cmdUser(sub, values, rest);
  if (cmd === 'site') return cmdSite(sub, values, rest);
  if (cmd === 'token') return cmdToken(sub, values, rest);
  return cmdAudit(sub, values);
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'ingest':
        return await cmdIngest(rest);
      case 'info':
        return await cmdInfo(rest);
      case 'verify':
        return await cmdVerifyArgs(rest);
      case 'export':
        return await cmdExport(rest);
      case 'import':
        return await cmdImport(rest);
      case 'serve':
        return await cmdServe(rest);
      case 'worker':
        return await cmdWorker(rest);
      case 'demo':
        return await cmdDemo(rest);
      case 'ai-reference':
        return await cmdAiReference(rest);
      case 'user':
      case 'site':
      case 'token':
      case 'audit':
        return await cmdAccounts(cmd, rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (caught) {
    const e = caught instanceof CliUsageError ? new UsageError(caught.message) : caught;
    if (e instanceof HttpError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(
        `error: ${e.message}\n${e instanceof UsageError ? "run 'tessera --help' for usage" : ''}`.trimEnd(),
      );
      return 2;
    }
    if (isSlideError(e)) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    console.error(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
