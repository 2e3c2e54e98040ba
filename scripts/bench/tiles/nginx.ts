/**
 * The reference for the tile benchmark: the same slide cut into loose Deep Zoom files by
 * `vips dzsave` and served as static files by nginx, the fastest way there is to hand out tiles
 * that already exist.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Child, lastLines, runChild, startChild, waitForHttp } from './children.ts';

export interface DzCut {
  /** Folder served as the web root: it holds `slide.dzi` and `slide_files/`. */
  root: string;
  seconds: number;
  /** Sum of the files' sizes. */
  bytes: number;
  /** Blocks taken on disk: tens of thousands of small files waste part of their last block each. */
  diskBytes: number;
  files: number;
  reused: boolean;
}

interface DzRecord {
  source: string;
  sourceBytes: number;
  sourceMtimeMs: number;
  seconds: number;
}

const RECORD = 'cut.json';
export const JPEG_QUALITY = 92;

/** Whether a command is on the PATH. */
export function onPath(bin: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && existsSync(path.join(dir, bin)));
}

async function folderSize(dir: string): Promise<{ bytes: number; diskBytes: number; files: number }> {
  let bytes = 0;
  let diskBytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const st = await stat(path.join(entry.parentPath, entry.name));
    bytes += st.size;
    diskBytes += st.blocks * 512;
    files++;
  }
  return { bytes, diskBytes, files };
}

/**
 * Cut `slide` once into `root` (reused while the source file is unchanged). dzsave writes into a
 * scratch folder that is renamed into place when complete, so an interrupted cut is never reused.
 */
export async function ensureDzCut(
  slide: string,
  root: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
  tileSize = 256,
): Promise<DzCut> {
  const src = await stat(slide);
  try {
    const rec = JSON.parse(await readFile(path.join(root, RECORD), 'utf8')) as DzRecord;
    if (
      rec.source === slide &&
      rec.sourceBytes === src.size &&
      rec.sourceMtimeMs === src.mtimeMs &&
      existsSync(path.join(root, 'slide.dzi'))
    ) {
      return { root, seconds: rec.seconds, ...(await folderSize(root)), reused: true };
    }
    log(`${root} was cut from another source: cutting again`);
  } catch {
    // Nothing usable there yet.
  }
  const scratch = `${root}.partial-${process.pid}`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  log(`cutting ${path.basename(slide)} with vips dzsave into ${root} (once; reused by later runs)`);
  try {
    const run = await runChild(
      'vips',
      [
        'dzsave',
        slide,
        path.join(scratch, 'slide'),
        '--tile-size',
        String(tileSize),
        '--overlap',
        '0',
        '--suffix',
        `.jpeg[Q=${JPEG_QUALITY}]`,
      ],
      { env },
    );
    if (run.code !== 0) throw new Error(`vips dzsave exited with ${run.code}: ${lastLines(run.stderr)}`);
    const size = await folderSize(scratch);
    const rec: DzRecord = {
      source: slide,
      sourceBytes: src.size,
      sourceMtimeMs: src.mtimeMs,
      seconds: run.seconds,
    };
    await writeFile(path.join(scratch, RECORD), `${JSON.stringify(rec, null, 2)}\n`);
    await rm(root, { recursive: true, force: true });
    await rename(scratch, root);
    return { root, seconds: run.seconds, ...size, reused: false };
  } catch (e) {
    await rm(scratch, { recursive: true, force: true });
    throw e;
  }
}

/**
 * A static-file configuration as an operator would tune it for tiles: every worker on its own core,
 * sendfile, no access log, open file descriptors cached, keep-alive connections never recycled.
 */
export function nginxConf(opts: { prefix: string; root: string; port: number }): string {
  const p = (name: string): string => path.join(opts.prefix, name);
  return `daemon off;
master_process on;
worker_processes auto;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;

events {
  worker_connections 4096;
}

http {
  types {
    image/jpeg jpeg jpg;
    application/xml dzi;
  }
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  open_file_cache max=100000 inactive=60s;
  open_file_cache_valid 60s;
  client_body_temp_path ${p('client_body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};

  server {
    listen 127.0.0.1:${opts.port};
    root ${opts.root};
    location / {
      try_files $uri =404;
    }
  }
}
`;
}

/** Start nginx in the foreground (so it is a child of the bench) and wait until it serves. */
export async function startNginx(opts: { prefix: string; root: string; port: number }): Promise<Child> {
  await mkdir(opts.prefix, { recursive: true });
  const conf = path.join(opts.prefix, 'nginx.conf');
  await writeFile(conf, nginxConf(opts));
  // -e: the error log of the start-up itself, before the configuration is read, stays here too.
  const child = startChild('nginx', [
    '-c',
    conf,
    '-p',
    opts.prefix,
    '-e',
    path.join(opts.prefix, 'error.log'),
  ]);
  try {
    await waitForHttp(`http://127.0.0.1:${opts.port}/slide.dzi`, child, 10_000);
  } catch (e) {
    await child.stop();
    let log = '';
    try {
      log = lastLines(await readFile(path.join(opts.prefix, 'error.log'), 'utf8'));
    } catch {
      // No log written.
    }
    throw new Error(`${e instanceof Error ? e.message : String(e)}${log ? ` (error.log: ${log})` : ''}`);
  }
  return child;
}
