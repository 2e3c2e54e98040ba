import type { SlideCasesDto } from '../../../protocol/case-page.ts';

/** The server's limit on slide ids per question. */
export const SLIDE_CASES_CHUNK = 200;

type Listener = (accessions: string[]) => void;

/**
 * Which cases hold which slides, asked for together: every slide row of a page asks on its own, and
 * the ids asked within one tick go to the server in one request (per SLIDE_CASES_CHUNK ids). Answers
 * are kept for `ttlMs`.
 */
export class SlideCasesBatcher {
  private readonly known = new Map<string, { at: number; accessions: string[] }>();
  private readonly waiting = new Map<string, Set<Listener>>();
  private scheduled = false;

  constructor(
    private readonly fetchCases: (ids: string[]) => Promise<SlideCasesDto>,
    private readonly schedule: (run: () => void) => void = (run) => setTimeout(run, 0),
    private readonly ttlMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Call `on` with the accessions of the cases holding `slideId`; returns a function to stop listening. */
  want(slideId: string, on: Listener): () => void {
    const hit = this.known.get(slideId);
    if (hit && this.now() - hit.at < this.ttlMs) {
      on(hit.accessions);
      return () => {};
    }
    const set = this.waiting.get(slideId) ?? new Set<Listener>();
    set.add(on);
    this.waiting.set(slideId, set);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
    return () => set.delete(on);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = new Map(this.waiting);
    this.waiting.clear();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += SLIDE_CASES_CHUNK) {
      const chunk = ids.slice(i, i + SLIDE_CASES_CHUNK);
      this.fetchCases(chunk).then(
        (answer) => {
          const at = this.now();
          for (const id of chunk) {
            const accessions = answer[id] ?? [];
            this.known.set(id, { at, accessions });
            for (const on of batch.get(id) ?? []) on(accessions);
          }
        },
        () => {
          // No links this time: the library works without them.
        },
      );
    }
  }
}
