import type { AiFailure, AiRunEndedDto } from '../../../protocol/index.ts';

/** A failure's reason in words (the run's error message says more, in its title). */
export const FAILURE_WORDS: Record<AiFailure, string> = {
  timeout: 'no result in time',
  crashed: 'the algorithm crashed',
  unreachable: 'the algorithm could not be reached',
  malformed: 'its results were malformed',
  too_large: 'its results were too large',
  wrong_slide: 'it sent results for another slide',
  out_of_scope: 'it reached outside its slide',
  reported: 'the algorithm reported a failure',
  disabled: 'the algorithm was disabled',
  interrupted: 'the run was interrupted',
};

export interface RunNotice {
  id: string;
  slideId: string;
  tone: 'done' | 'failed';
  title: string;
  detail: string;
}

/**
 * What a notice of a run's end says: `slideName` names the slide in the library; null in the viewer,
 * where the slide is the one on screen.
 */
export function runNotice(e: AiRunEndedDto, slideName: string | null): RunNotice {
  const algo = `${e.run.algorithm.name} ${e.run.algorithm.version}`;
  const where = slideName === null ? 'on this slide' : `on ${slideName}`;
  if (e.run.state === 'failed') {
    const why = e.run.failure ? FAILURE_WORDS[e.run.failure] : (e.run.error?.message ?? 'unknown reason');
    return {
      id: e.run.id,
      slideId: e.run.slideId,
      tone: 'failed',
      title: `${algo} failed ${where}`,
      detail: why,
    };
  }
  let detail = 'Results ready.';
  if (e.result) {
    const call = e.result.positive === null ? '' : e.result.positive ? ' (positive)' : ' (negative)';
    const score = e.result.score === null ? '' : `, score ${formatScore(e.result.score)}`;
    detail = `Result: ${e.result.label}${call}${score}.`;
  }
  return { id: e.run.id, slideId: e.run.slideId, tone: 'done', title: `${algo} finished ${where}`, detail };
}

/** Two decimals, as the QA page shows scores. */
function formatScore(v: number): string {
  return v >= 0 && v <= 1 ? v.toFixed(2) : String(Math.round(v * 100) / 100);
}

/** Newest first, at most `max`, one per run. */
export function addNotice(list: readonly RunNotice[], n: RunNotice, max = 3): RunNotice[] {
  return [n, ...list.filter((x) => x.id !== n.id)].slice(0, max);
}
