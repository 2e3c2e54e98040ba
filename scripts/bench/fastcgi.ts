/**
 * A minimal FastCGI client and an HTTP front for it: enough to put IIPImage's iipsrv.fcgi on a port
 * a browser can use, without a web server (nginx, Apache, lighttpd) installed. One FastCGI
 * connection per request, as nginx does by default.
 */
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';

const VERSION = 1;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const RESPONDER = 1;

function record(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head[0] = VERSION;
  head[1] = type;
  head.writeUInt16BE(1, 2);
  head.writeUInt16BE(body.length, 4);
  return Buffer.concat([head, body]);
}

function nameValue(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  const len = (x: number): Buffer => {
    if (x < 128) return Buffer.from([x]);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(x | 0x80000000);
    return b;
  };
  return Buffer.concat([len(n.length), len(v.length), n, v]);
}

/** One GET through FastCGI: the CGI answer (headers, then body) split. */
export function fastcgiGet(
  port: number,
  params: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const out: Buffer[] = [];
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 8) {
        const len = pending.readUInt16BE(4);
        const pad = pending[6]!;
        if (pending.length < 8 + len + pad) break;
        const type = pending[1]!;
        if (type === STDOUT) out.push(pending.subarray(8, 8 + len));
        pending = pending.subarray(8 + len + pad);
        if (type === END_REQUEST) {
          sock.end();
          const all = Buffer.concat(out);
          const split = all.indexOf('\r\n\r\n');
          const head = all.subarray(0, split < 0 ? 0 : split).toString('latin1');
          const headers: Record<string, string> = {};
          let status = 200;
          for (const line of head.split('\r\n')) {
            const i = line.indexOf(':');
            if (i < 0) continue;
            const k = line.slice(0, i).trim().toLowerCase();
            const v = line.slice(i + 1).trim();
            if (k === 'status') status = Number(v.split(' ')[0]) || 200;
            else headers[k] = v;
          }
          resolve({ status, headers, body: all.subarray(split < 0 ? 0 : split + 4) });
          return;
        }
      }
    });
    const begin = Buffer.alloc(8);
    begin.writeUInt16BE(RESPONDER, 0);
    chunks.push(record(BEGIN_REQUEST, begin));
    const p = Buffer.concat(Object.entries(params).map(([k, v]) => nameValue(k, v)));
    chunks.push(record(PARAMS, p), record(PARAMS, Buffer.alloc(0)), record(STDIN, Buffer.alloc(0)));
    sock.write(Buffer.concat(chunks));
  });
}

/**
 * An HTTP server on `port`: `/fcgi-bin/iipsrv.fcgi?…` goes to the FastCGI application on `fcgiPort`,
 * anything in `files` (path → bytes and type) is answered from memory.
 */
export function fastcgiFront(
  port: number,
  fcgiPort: number,
  files: Record<string, { body: Buffer; type: string }>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const file = files[pathname];
    if (file) {
      res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
      res.end(file.body);
      return;
    }
    if (pathname !== '/fcgi-bin/iipsrv.fcgi') {
      res.writeHead(404).end();
      return;
    }
    fastcgiGet(fcgiPort, {
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: pathname,
      QUERY_STRING: q < 0 ? '' : url.slice(q + 1),
      REQUEST_URI: url,
      SERVER_PROTOCOL: 'HTTP/1.1',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: String(port),
      HTTP_HOST: req.headers.host ?? '',
    }).then(
      (r) => {
        const { 'content-length': _drop, ...headers } = r.headers;
        res.writeHead(r.status, { ...headers, 'Content-Length': r.body.length });
        res.end(r.body);
      },
      (e: unknown) => {
        res.writeHead(502).end(String(e));
      },
    );
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}
