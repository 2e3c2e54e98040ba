import { useEffect, useSyncExternalStore } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { InboxDto } from '../../../protocol/review.ts';
import { getInbox } from './api.ts';

/**
 * One inbox per tab, whatever reads it (the header's count, the inbox page): read when first
 * wanted and again whenever the server says it changed, over one connection of its own, closed when
 * nothing reads it (the viewer opens none).
 */
let current: InboxDto | null = null;
const listeners = new Set<() => void>();
let socket: Socket | null = null;
let reading: AbortController | null = null;

function publish(next: InboxDto): void {
  current = next;
  for (const l of listeners) l();
}

export function reloadInbox(): void {
  reading?.abort();
  const ac = new AbortController();
  reading = ac;
  getInbox(ac.signal).then(publish, () => {});
}

function subscribe(l: () => void): () => void {
  listeners.add(l);
  if (!socket) {
    socket = io({ path: '/socket.io', transports: ['websocket'] });
    socket.on('inbox', reloadInbox);
    // A connection back after a drop may have missed a change.
    socket.on('connect', reloadInbox);
  }
  return () => {
    listeners.delete(l);
    if (listeners.size === 0 && socket) {
      socket.disconnect();
      socket = null;
      reading?.abort();
      current = null;
    }
  };
}

export function useInbox(): InboxDto | null {
  const inbox = useSyncExternalStore(subscribe, () => current);
  useEffect(() => {
    if (current === null) reloadInbox();
  }, []);
  return inbox;
}
