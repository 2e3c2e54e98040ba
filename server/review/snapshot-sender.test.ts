import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotSender } from './snapshot-sender.ts';

/** A real socket.io server and clients: parts travel over websockets as they would in a session. */
const http = createServer();
const server = new Server(http);
const serverSockets: Socket[] = [];
server.on('connection', (s) => serverSockets.push(s));
const clients: ClientSocket[] = [];
let url = '';

beforeAll(async () => {
  http.listen(0, '127.0.0.1');
  await new Promise((r) => http.once('listening', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server.close();
});

/** A connected client and its socket on the server side. */
async function pair(): Promise<{ client: ClientSocket; socket: Socket }> {
  const before = serverSockets.length;
  const client = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  clients.push(client);
  await new Promise<void>((r) => client.once('connect', () => r()));
  while (serverSockets.length === before) await new Promise((r) => setTimeout(r, 5));
  return { client, socket: serverSockets.at(-1)! };
}

type Part = { transfer: number; index: number; data: Buffer };

describe('SnapshotSender', () => {
  it('sends a snapshot whole, in order, in parts of the given size', async () => {
    const { client, socket } = await pair();
    const sender = new SnapshotSender(2, 1000, 64 * 1024);
    const bytes = randomBytes(300 * 1024);
    const parts: Part[] = [];
    client.on('snapshot', (p: Part) => parts.push(p));
    const ref = sender.prepare(socket, bytes);
    expect(ref).toMatchObject({ bytes: bytes.byteLength, parts: 5 });
    await sender.send(socket, ref, bytes);
    await expect.poll(() => parts.length).toBe(5);
    expect(parts.map((p) => p.index)).toEqual([0, 1, 2, 3, 4]);
    expect(parts.every((p) => p.transfer === ref.transfer)).toBe(true);
    expect(Buffer.concat(parts.map((p) => p.data)).equals(bytes)).toBe(true);
    expect(sender.busy).toBe(0);
  });

  it('runs at most `concurrent` transfers at once; the rest wait their turn and all arrive', async () => {
    const sender = new SnapshotSender(2, 10_000, 16 * 1024);
    const bytes = randomBytes(256 * 1024);
    const pairs = await Promise.all(Array.from({ length: 6 }, () => pair()));
    const got = pairs.map(() => 0);
    pairs.forEach(({ client }, i) => client.on('snapshot', () => got[i]!++));
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, sender.busy)), 1);
    await Promise.all(pairs.map(({ socket }) => sender.send(socket, sender.prepare(socket, bytes), bytes)));
    clearInterval(watch);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    await expect.poll(() => got).toEqual(pairs.map(() => 16));
  });

  it('a rejoin ends the transfer before it, and a dropped socket ends its own', async () => {
    const sender = new SnapshotSender(4, 1000, 16 * 1024);
    const bytes = randomBytes(512 * 1024);
    const { client, socket } = await pair();
    const parts: Part[] = [];
    client.on('snapshot', (p: Part) => parts.push(p));
    const first = sender.prepare(socket, bytes);
    const firstDone = sender.send(socket, first, bytes);
    const second = sender.prepare(socket, bytes);
    await Promise.all([firstDone, sender.send(socket, second, bytes)]);
    await expect.poll(() => parts.filter((p) => p.transfer === second.transfer).length).toBe(32);
    // The first transfer stopped once the second was prepared: at most the part already under way.
    expect(parts.filter((p) => p.transfer === first.transfer).length).toBeLessThanOrEqual(1);

    const gone = await pair();
    let after = 0;
    gone.client.on('snapshot', () => after++);
    const ref = sender.prepare(gone.socket, bytes);
    const sending = sender.send(gone.socket, ref, bytes);
    gone.client.disconnect();
    await sending;
    expect(after).toBeLessThan(32);
    expect(sender.busy).toBe(0);
  });
});
