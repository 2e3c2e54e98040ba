import type { Socket } from 'socket.io';
import { SNAPSHOT_PART_BYTES, type SnapshotRef } from '../../protocol/index.ts';

/** What the sender needs of a socket.io socket (the hub's typed sockets included). */
export interface PartSocket {
  readonly connected: boolean;
  readonly conn: Socket['conn'];
  emit(event: 'snapshot', part: { transfer: number; index: number; data: Buffer }): unknown;
  once(event: 'disconnect', f: () => void): unknown;
  off(event: 'disconnect', f: () => void): unknown;
}

interface Transport {
  writable: boolean;
  once(e: 'drain', f: () => void): unknown;
  off(e: 'drain', f: () => void): unknown;
}

/**
 * Sends join snapshots (megabytes each) as parts, paced so that no turn of the event loop is spent
 * copying them into sockets.
 *
 * Handing a 3 MB snapshot to each of 200 joiners at once queued 600 MB in libuv; whenever the sockets
 * became writable together, one turn wrote hundreds of megabytes into the kernel and every other
 * request waited for most of a second. Here a part of at most SNAPSHOT_PART_BYTES goes out per turn
 * across all transfers, a socket gets its next part only once the last one is written, and at most
 * `concurrent` transfers run at once (a transfer on a slow link gives its place up after `holdMs` and
 * goes on at its link's pace).
 */
export class SnapshotSender {
  private transfers = 0;
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private turns: Promise<void> = Promise.resolve();
  /** The current transfer of each socket: a rejoin ends the one before. */
  private readonly current = new WeakMap<PartSocket, number>();

  constructor(
    readonly concurrent = 4,
    private readonly holdMs = 1000,
    readonly partBytes = SNAPSHOT_PART_BYTES,
  ) {
    this.free = concurrent;
  }

  /** A new transfer of `bytes` to `socket` (replacing any before it); started by send(). */
  prepare(socket: PartSocket, bytes: Buffer): SnapshotRef {
    const transfer = ++this.transfers;
    this.current.set(socket, transfer);
    return {
      transfer,
      bytes: bytes.byteLength,
      parts: Math.max(1, Math.ceil(bytes.byteLength / this.partBytes)),
    };
  }

  /** Sends the parts of `ref`; resolves when all are written, or the socket or transfer is gone. */
  async send(socket: PartSocket, ref: SnapshotRef, bytes: Buffer): Promise<void> {
    const live = (): boolean => socket.connected && this.current.get(socket) === ref.transfer;
    const release = await this.slot();
    const hold = setTimeout(release, this.holdMs);
    hold.unref();
    try {
      for (let index = 0; index < ref.parts; index++) {
        await this.turn();
        if (!live()) return;
        const data = bytes.subarray(index * this.partBytes, (index + 1) * this.partBytes);
        socket.emit('snapshot', { transfer: ref.transfer, index, data });
        await this.written(socket);
      }
    } finally {
      clearTimeout(hold);
      release();
      if (this.current.get(socket) === ref.transfer) this.current.delete(socket);
    }
  }

  /** Transfers in progress holding a place (for tests). */
  get busy(): number {
    return this.concurrent - this.free;
  }

  /** A place among the `concurrent` transfers; the function given back frees it (once). */
  private async slot(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }

  /** Resolves on a turn of the event loop of its own, one caller per turn. */
  private turn(): Promise<void> {
    const t = this.turns.then(() => new Promise<void>((r) => setImmediate(r)));
    this.turns = t;
    return t;
  }

  /** Resolves when the socket's transport has written what it was given, or the socket is gone. */
  private written(socket: PartSocket): Promise<void> {
    const transport = socket.conn.transport as unknown as Transport | undefined;
    if (!socket.connected || !transport || transport.writable) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        transport.off('drain', done);
        socket.off('disconnect', done);
        resolve();
      };
      transport.once('drain', done);
      socket.once('disconnect', done);
    });
  }
}
