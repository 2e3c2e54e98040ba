import { useEffect, useSyncExternalStore } from 'react';
import type { JobDto } from '../../../protocol/index.ts';
import { uploadError, type UploadError } from './upload-errors.ts';
import {
  ApiError,
  getJob,
  NetworkError,
  payloadBytes,
  payloadName,
  uploadSlide,
  type UploadPayload,
} from '../api.ts';

export type UploadPhase = 'waiting' | 'uploading' | 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface UploadItem {
  key: number;
  name: string;
  bytes: number;
  loaded: number;
  phase: UploadPhase;
  /** Ingest progress 0..100 while the job runs. */
  percent: number;
  stage: string | null;
  slideId: string | null;
  /** The upload was already in the library: the slide and the name the site knows it by. */
  duplicateOf: { slideId: string; name: string } | null;
  error: UploadError | null;
  /** The job could not be polled for a while; it keeps trying. */
  stale: boolean;
  /** An import from this DICOMweb archive (no bytes from the browser): its job is followed. */
  source?: string;
}

const POLL_MS = 500;
const MAX_POLL_MS = 5000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const failure = (e: unknown): UploadError =>
  e instanceof ApiError
    ? uploadError(e.code, e.message)
    : e instanceof NetworkError
      ? uploadError('NETWORK', e.message)
      : uploadError(null, e instanceof Error ? e.message : String(e));

/**
 * Uploads live outside any page, so opening a slide while another is still uploading does not cut
 * it off. They go one at a time (the browser's connection limit and the server's ingest worker gain
 * nothing from parallel uploads); each finished upload's job is then polled until it ends.
 */
class UploadStore {
  private items: UploadItem[] = [];
  private listeners = new Set<() => void>();
  private readyListeners = new Set<(slideId: string) => void>();
  private aborts = new Map<number, () => void>();
  private chain: Promise<void> = Promise.resolve();
  private nextKey = 1;
  private guarding = false;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  snapshot = (): UploadItem[] => this.items;

  onReady(fn: (slideId: string) => void): () => void {
    this.readyListeners.add(fn);
    return () => this.readyListeners.delete(fn);
  }

  /** Bytes still to send: a reason to warn before the page is closed. */
  get busy(): boolean {
    return this.items.some((it) => it.phase === 'waiting' || it.phase === 'uploading');
  }

  start(payloads: UploadPayload[]): void {
    this.guardUnload();
    for (const p of payloads) {
      const key = this.nextKey++;
      this.items = [
        {
          key,
          name: payloadName(p),
          bytes: payloadBytes(p),
          loaded: 0,
          phase: 'waiting',
          percent: 0,
          stage: null,
          slideId: null,
          duplicateOf: null,
          error: null,
          stale: false,
        },
        ...this.items,
      ];
      // A placeholder abort lets a waiting upload be cancelled before it starts.
      this.aborts.set(key, () => {});
      this.chain = this.chain.then(() => this.run(key, p));
    }
    this.emit();
  }

  /** Follow jobs the server started itself (an import from an archive) like uploaded ones. */
  follow(jobs: { jobId: string; name: string }[], source: string): void {
    for (const j of jobs) {
      const key = this.nextKey++;
      this.items = [
        {
          key,
          name: j.name,
          bytes: 0,
          loaded: 0,
          phase: 'queued',
          percent: 0,
          stage: null,
          slideId: null,
          duplicateOf: null,
          error: null,
          stale: false,
          source,
        },
        ...this.items,
      ];
      void this.poll(key, j.jobId);
    }
    this.emit();
  }

  cancel(key: number): void {
    const abort = this.aborts.get(key);
    if (!abort) return;
    this.aborts.delete(key);
    abort();
    this.patch(key, { phase: 'cancelled' });
  }

  dismiss(key: number): void {
    this.items = this.items.filter((it) => it.key !== key);
    this.emit();
  }

  /** Closing the tab mid-upload loses it: let the browser ask first. */
  private guardUnload(): void {
    if (this.guarding) return;
    this.guarding = true;
    window.addEventListener('beforeunload', (e) => {
      if (this.busy) e.preventDefault();
    });
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private patch(key: number, p: Partial<UploadItem>): void {
    this.items = this.items.map((it) => (it.key === key ? { ...it, ...p } : it));
    this.emit();
  }

  private async run(key: number, payload: UploadPayload): Promise<void> {
    if (!this.aborts.has(key)) return;
    this.patch(key, { phase: 'uploading' });
    const handle = uploadSlide(payload, (loaded, total) => this.patch(key, { loaded, bytes: total }));
    this.aborts.set(key, handle.abort);
    try {
      const accepted = await handle.done;
      this.aborts.delete(key);
      this.patch(key, { phase: 'queued', loaded: accepted.bytes, bytes: accepted.bytes });
      void this.poll(key, accepted.jobId);
    } catch (e) {
      this.aborts.delete(key);
      if (e instanceof DOMException && e.name === 'AbortError') this.patch(key, { phase: 'cancelled' });
      else this.patch(key, { phase: 'failed', error: failure(e) });
    }
  }

  private async poll(key: number, jobId: string): Promise<void> {
    let delay = POLL_MS;
    for (;;) {
      let job: JobDto;
      try {
        job = await getJob(jobId);
        delay = POLL_MS;
      } catch (e) {
        if (!(e instanceof NetworkError)) {
          this.patch(key, { phase: 'failed', error: failure(e) });
          return;
        }
        // The server may be restarting: keep the row, say so, and back off.
        this.patch(key, { stale: true });
        delay = Math.min(delay * 2, MAX_POLL_MS);
        await sleep(delay);
        continue;
      }
      const base = { stale: false, percent: job.percent, stage: job.stage };
      if (job.state === 'done') {
        this.patch(key, {
          ...base,
          phase: 'done',
          percent: 100,
          slideId: job.slideId,
          duplicateOf: job.duplicateOf ?? null,
        });
        const id = job.slideId;
        if (id) for (const fn of this.readyListeners) fn(id);
        return;
      }
      if (job.state === 'failed') {
        const reason = job.error
          ? uploadError(job.error.code, job.error.message)
          : uploadError('INGEST_FAILED', 'conversion failed');
        this.patch(key, { ...base, phase: 'failed', error: reason });
        return;
      }
      this.patch(key, { ...base, phase: job.state });
      await sleep(delay);
    }
  }
}

export const uploads = new UploadStore();

/** The upload list, and a callback for each slide that finished converting while the page is shown. */
export function useUploads(onSlideReady: (slideId: string) => void): UploadItem[] {
  const items = useSyncExternalStore(uploads.subscribe, uploads.snapshot);
  useEffect(() => uploads.onReady(onSlideReady), [onSlideReady]);
  return items;
}
