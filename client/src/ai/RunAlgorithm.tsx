import { useEffect, useRef, useState } from 'react';
import type { AiRunDto, AlgorithmDto } from '../../../protocol/ai.ts';
import { listAlgorithms, listRuns, requestRun } from './api.ts';

/** How often the slide's runs are read again while one is queued or running. */
const POLL_MS = 1500;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const unfinished = (r: AiRunDto): boolean => r.state === 'queued' || r.state === 'running';

/**
 * Ask for an algorithm's run on this slide, and follow the slide's runs that have not given a
 * layer (queued, running, failed); `onDone` once one finishes, so its layer is read.
 */
export function RunAlgorithm({ slideId, onDone }: { slideId: string; onDone: () => void }) {
  const [algorithms, setAlgorithms] = useState<AlgorithmDto[] | null>(null);
  const [runs, setRuns] = useState<AiRunDto[]>([]);
  const [chosen, setChosen] = useState('');
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const done = useRef(onDone);
  done.current = onDone;
  const known = useRef(new Map<string, AiRunDto['state']>());

  useEffect(() => {
    const ac = new AbortController();
    listAlgorithms(ac.signal).then(
      (a) => {
        const enabled = a.filter((x) => x.enabled);
        setAlgorithms(enabled);
        setChosen((c) => c || enabled[0]?.id || '');
      },
      (e: unknown) => !ac.signal.aborted && setError(`Algorithms could not be listed: ${message(e)}`),
    );
    return () => ac.abort();
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    listRuns(slideId, ac.signal).then(
      (r) => {
        let finished = false;
        for (const run of r) {
          const before = known.current.get(run.id);
          if (before && before !== run.state && run.state === 'done') finished = true;
          known.current.set(run.id, run.state);
        }
        setRuns(r);
        if (finished) done.current();
      },
      (e: unknown) => !ac.signal.aborted && setError(`Runs could not be read: ${message(e)}`),
    );
    return () => ac.abort();
  }, [slideId, tick]);

  const polling = runs.some(unfinished);
  useEffect(() => {
    if (!polling) return;
    const t = setTimeout(() => setTick((n) => n + 1), POLL_MS);
    return () => clearTimeout(t);
  }, [polling, tick]);

  const ask = () => {
    if (!chosen) return;
    setAsking(true);
    requestRun(slideId, chosen).then(
      (run) => {
        setAsking(false);
        setError(null);
        known.current.set(run.id, run.state);
        setTick((n) => n + 1);
      },
      (e: unknown) => {
        setAsking(false);
        setError(`The run was not started: ${message(e)}`);
      },
    );
  };

  // The latest run of each algorithm that has not ended in a layer.
  const shown = runs.filter(
    (r, i) => r.state !== 'done' && runs.findIndex((x) => x.algorithm.id === r.algorithm.id) === i,
  );
  return (
    <div className="ai-run" data-testid="ai-run">
      {algorithms && algorithms.length > 0 && (
        <div className="small muted">Run an algorithm on this slide</div>
      )}
      {algorithms && algorithms.length > 0 && (
        <div className="ai-run-ask">
          <select
            value={chosen}
            onChange={(e) => setChosen(e.target.value)}
            aria-label="Algorithm"
            data-testid="ai-run-algorithm"
          >
            {algorithms.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} {a.version}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="btn small"
            disabled={asking || !chosen}
            onClick={ask}
            data-testid="ai-run-button"
          >
            {asking ? 'Asking…' : 'Run'}
          </button>
        </div>
      )}
      {error && (
        <p className="small error-text" role="alert" data-testid="ai-run-error">
          {error}
        </p>
      )}
      {shown.map((r) => (
        <div key={r.id} className="small ai-run-state" data-testid="ai-run-state" data-state={r.state}>
          <span className="ai-badge">AI</span> {r.algorithm.name} {r.algorithm.version}:{' '}
          {r.state === 'queued' && 'waiting to start'}
          {r.state === 'running' && `running, ${r.percent} %${r.stage ? ` (${r.stage})` : ''}`}
          {r.state === 'failed' && (
            <span className="error-text">failed: {r.error?.message ?? r.failure ?? 'no reason given'}</span>
          )}
        </div>
      ))}
    </div>
  );
}
