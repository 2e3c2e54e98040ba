import { describe, expect, it } from 'vitest';
import type { AiRunEndedDto } from '../../../protocol/index.ts';
import { addNotice, runNotice } from './notices.ts';

const ended = (
  more: Partial<AiRunEndedDto['run']>,
  result: AiRunEndedDto['result'] = null,
): AiRunEndedDto => ({
  run: {
    id: 'r1',
    slideId: 's1',
    algorithm: { id: 'a', name: 'Tumour finder', version: '3', enabled: true },
    trigger: 'automatic',
    requestedBy: null,
    state: 'done',
    percent: 100,
    stage: 'done',
    error: null,
    failure: null,
    deidentified: true,
    createdAt: '',
    startedAt: null,
    finishedAt: null,
    ...more,
  },
  result,
});

describe('AI run notices', () => {
  it('a finished run names the algorithm, the slide (in the library) and its call', () => {
    expect(
      runNotice(ended({}, { label: 'Tumour', score: 0.934, positive: true, text: null }), 'N1 breast core'),
    ).toEqual({
      id: 'r1',
      slideId: 's1',
      tone: 'done',
      title: 'Tumour finder 3 finished on N1 breast core',
      detail: 'Result: Tumour (positive), score 0.93.',
    });
    expect(runNotice(ended({}), null).title).toBe('Tumour finder 3 finished on this slide');
    expect(runNotice(ended({}), null).detail).toBe('Results ready.');
    expect(
      runNotice(ended({}, { label: 'Benign', score: null, positive: false, text: null }), null).detail,
    ).toBe('Result: Benign (negative).');
  });

  it('a failed run says why in words', () => {
    const n = runNotice(
      ended({ state: 'failed', failure: 'timeout', error: { code: 'ALGORITHM_FAILED', message: 'x' } }),
      null,
    );
    expect(n).toMatchObject({
      tone: 'failed',
      title: 'Tumour finder 3 failed on this slide',
      detail: 'no result in time',
    });
    expect(
      runNotice(ended({ state: 'failed', error: { code: 'ALGORITHM_FAILED', message: 'exit 1' } }), null)
        .detail,
    ).toBe('exit 1');
  });

  it('keeps the newest few, one per run', () => {
    const n = (id: string) => ({ ...runNotice(ended({ id }), null) });
    let l = addNotice([], n('a'));
    l = addNotice(l, n('b'));
    l = addNotice(l, n('a'));
    expect(l.map((x) => x.id)).toEqual(['a', 'b']);
    l = addNotice(addNotice(l, n('c')), n('d'));
    expect(l.map((x) => x.id)).toEqual(['d', 'c', 'a']);
  });
});
