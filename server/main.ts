import type { AddressInfo } from 'node:net';
import { createApp, createServerContext } from './app.ts';
import { type Config, loadConfig } from './config.ts';

/** Start the HTTP server; resolves once it listens. */
export async function startServer(config: Config): Promise<{ url: string; close: () => Promise<void> }> {
  const ctx = await createServerContext(config);
  const app = createApp(ctx);
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const addr = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host}:${addr.port}`;
  return {
    url,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ctx.queue.idle();
      await ctx.db.destroy();
    },
  };
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntry) {
  const config = loadConfig();
  const { url } = await startServer(config);
  console.log(`Tessera listening on ${url} (data: ${config.dataDir})`);
}
