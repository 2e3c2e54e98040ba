import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { AiFindingDto, AiLayerDto, Verdict } from '../../../protocol/ai.ts';
import type { Role } from '../../../protocol/index.ts';
import { getAiFindings, getAiResults, putVerdict, withdrawVerdict } from './api.ts';
import { firstViewOr } from '../viewer/annotation-early.ts';
import type { ColourMap } from './colormap.ts';
import { aboveThreshold, nextVerdict, reviewOrder, stepFinding, thresholdScale } from './findings.ts';

/** How one layer is shown; a layer starts hidden (the reader asks for the algorithm's opinion). */
export interface LayerView {
  visible: boolean;
  /** 0..1, over the heat maps and the findings alike. */
  opacity: number;
  colourMap: ColourMap;
  /** Findings scoring below it are hidden. */
  threshold: number;
}

export type FindingsLoad =
  | { status: 'loading' }
  | { status: 'ready'; findings: AiFindingDto[] }
  | { status: 'error'; message: string };

export type ResultsLoad =
  { status: 'loading' } | { status: 'ready'; layers: AiLayerDto[] } | { status: 'error'; message: string };

export interface Selected {
  runId: string;
  findingId: string;
}

/** A shown layer and the findings it draws now (its threshold applied). */
export interface ShownLayer {
  layer: AiLayerDto;
  view: LayerView;
  findings: AiFindingDto[];
}

export interface AiLayers {
  results: ResultsLoad;
  views: Record<string, LayerView>;
  findings: Record<string, FindingsLoad>;
  /** The layers shown, in the panel's order, with the findings above their threshold. */
  shown: ShownLayer[];
  selected: Selected | null;
  /** A verdict on its way to the server (its target's key), for the buttons. */
  busy: string | null;
  /** The last failure, in words (cleared by the next success or by dismissing it). */
  error: string | null;
  /** The reader's role may judge algorithms' results. */
  canJudge: boolean;
  setView: (runId: string, patch: Partial<LayerView>) => void;
  select: (s: Selected | null) => void;
  /** Select the next / previous finding shown; the one selected, or null when none is shown. */
  step: (step: 1 | -1) => AiFindingDto | null;
  /** Accept or reject the selected finding; the same verdict again withdraws it. */
  judgeSelected: (verdict: Verdict) => void;
  judgeFinding: (runId: string, findingId: string, verdict: Verdict | null) => void;
  /** Accept or reject a layer's slide-level result (`runId` null: the active layer's); null withdraws. */
  judgeSlide: (runId: string | null, verdict: Verdict | null | 'toggle-accept' | 'toggle-reject') => void;
  dismissError: () => void;
  /** Show a failure met while drawing a layer (a heat map that could not be read). */
  report: (message: string) => void;
  reload: () => void;
}

const JUDGES: ReadonlySet<Role> = new Set<Role>(['pathologist', 'specialist', 'admin']);

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function defaultView(layer: AiLayerDto): LayerView {
  const scale = thresholdScale(layer.findings.scoreRange);
  return { visible: false, opacity: 0.5, colourMap: 'viridis', threshold: scale.min };
}

/**
 * The slide's AI results as layers of the viewer: fetched once, each layer's findings fetched when
 * it is first shown, what is shown and how, the selected finding, and verdicts sent to the server.
 */
export function useAiLayers(slideId: string, role: Role): AiLayers {
  const [results, setResults] = useState<ResultsLoad>({ status: 'loading' });
  const [views, setViews] = useState<Record<string, LayerView>>({});
  const [findings, setFindings] = useState<Record<string, FindingsLoad>>({});
  const [selected, setSelected] = useState<Selected | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const canJudge = JUDGES.has(role);

  useEffect(() => {
    const ac = new AbortController();
    // Read once the slide's first view is loaded, not among its tiles.
    void firstViewOr()
      .then(() => getAiResults(slideId, ac.signal))
      .then(
        (r) => {
          setResults({ status: 'ready', layers: r.layers });
          setViews((v) => {
            const out = { ...v };
            for (const l of r.layers) out[l.run.id] ??= defaultView(l);
            return out;
          });
        },
        (e: unknown) => !ac.signal.aborted && setResults({ status: 'error', message: message(e) }),
      );
    return () => ac.abort();
  }, [slideId, attempt]);

  const layers = useMemo(() => (results.status === 'ready' ? results.layers : []), [results]);

  // A layer's findings are fetched the first time it is shown.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    for (const l of layers) {
      const id = l.run.id;
      if (!views[id]?.visible || asked.current.has(id) || l.findings.count === 0) continue;
      asked.current.add(id);
      setFindings((f) => ({ ...f, [id]: { status: 'loading' } }));
      getAiFindings(l.findings.url).then(
        (r) => setFindings((f) => ({ ...f, [id]: { status: 'ready', findings: r.findings } })),
        (e: unknown) => {
          asked.current.delete(id);
          setFindings((f) => ({ ...f, [id]: { status: 'error', message: message(e) } }));
        },
      );
    }
  }, [layers, views]);

  const shown = useMemo<ShownLayer[]>(
    () =>
      layers.flatMap((layer) => {
        const view = views[layer.run.id];
        if (!view?.visible) return [];
        const f = findings[layer.run.id];
        const list = f?.status === 'ready' ? aboveThreshold(f.findings, view.threshold) : [];
        return [{ layer, view, findings: list }];
      }),
    [layers, views, findings],
  );

  // A finding hidden by its threshold or its layer is no longer selected.
  useEffect(() => {
    if (!selected) return;
    const l = shown.find((s) => s.layer.run.id === selected.runId);
    if (!l || !l.findings.some((f) => f.id === selected.findingId)) setSelected(null);
  }, [shown, selected]);

  const latest = useRef({ shown, selected, layers, findings, canJudge });
  latest.current = { shown, selected, layers, findings, canJudge };

  const setView = useCallback(
    (runId: string, patch: Partial<LayerView>) =>
      setViews((v) => (v[runId] ? { ...v, [runId]: { ...v[runId], ...patch } } : v)),
    [],
  );

  const step = useCallback((s: 1 | -1): AiFindingDto | null => {
    const { shown, selected, layers } = latest.current;
    const withFindings = shown.filter((l) => l.findings.length > 0);
    if (withFindings.length === 0) {
      setError(
        layers.length === 0
          ? 'This slide has no AI results.'
          : shown.length === 0
            ? 'No AI layer is shown: show one in the AI tab to step through its findings.'
            : 'The AI layers shown have no findings above their thresholds.',
      );
      return null;
    }
    // Within the selected finding's layer; otherwise the first shown layer that has findings.
    const layer = withFindings.find((l) => l.layer.run.id === selected?.runId) ?? withFindings[0]!;
    const next = stepFinding(
      reviewOrder(layer.findings),
      selected?.runId === layer.layer.run.id ? selected.findingId : null,
      s,
    );
    if (next) {
      setSelected({ runId: layer.layer.run.id, findingId: next.id });
      setError(null);
    }
    return next;
  }, []);

  const judgeFinding = useCallback((runId: string, findingId: string, verdict: Verdict | null) => {
    if (!latest.current.canJudge) {
      setError('Your role does not judge algorithms’ results.');
      return;
    }
    setBusy(findingId);
    const done =
      verdict === null ? withdrawVerdict(runId, { findingId }) : putVerdict(runId, { findingId }, verdict);
    done.then(
      () => {
        setBusy(null);
        setError(null);
        setFindings((all) => {
          const f = all[runId];
          if (f?.status !== 'ready') return all;
          return {
            ...all,
            [runId]: { ...f, findings: f.findings.map((x) => (x.id === findingId ? { ...x, verdict } : x)) },
          };
        });
      },
      (e: unknown) => {
        setBusy(null);
        setError(`The verdict was not saved: ${message(e)}`);
      },
    );
  }, []);

  const judgeSelected = useCallback(
    (pressed: Verdict) => {
      const { selected, findings, layers } = latest.current;
      if (!selected) {
        setError(
          layers.length === 0
            ? 'This slide has no AI results.'
            : 'Select an AI finding first: click it, or press N to step to the next one.',
        );
        return;
      }
      const f = findings[selected.runId];
      const finding = f?.status === 'ready' ? f.findings.find((x) => x.id === selected.findingId) : undefined;
      if (!finding) return;
      judgeFinding(selected.runId, finding.id, nextVerdict(finding.verdict, pressed));
    },
    [judgeFinding],
  );

  const judgeSlide = useCallback(
    (runId: string | null, verdict: Verdict | null | 'toggle-accept' | 'toggle-reject') => {
      const { shown, selected, layers, canJudge } = latest.current;
      if (!canJudge) {
        setError('Your role does not judge algorithms’ results.');
        return;
      }
      // The active layer: the selected finding's, else the first shown one with a slide-level result.
      const layer =
        runId !== null
          ? layers.find((l) => l.run.id === runId)
          : (
              shown.find((l) => l.layer.run.id === selected?.runId && l.layer.slideResult) ??
              shown.find((l) => l.layer.slideResult)
            )?.layer;
      if (!layer?.slideResult) {
        setError('No AI layer with a slide-level result is shown: show one in the AI tab first.');
        return;
      }
      const mine = layer.verdicts.mine?.verdict ?? null;
      const v =
        verdict === 'toggle-accept'
          ? nextVerdict(mine, 'accept')
          : verdict === 'toggle-reject'
            ? nextVerdict(mine, 'reject')
            : verdict;
      const id = layer.run.id;
      setBusy(`slide:${id}`);
      const done: Promise<unknown> = v === null ? withdrawVerdict(id, 'slide') : putVerdict(id, 'slide', v);
      done.then(
        () => {
          setError(null);
          // The layer's counts are the server's: read them again.
          getAiResults(slideId).then(
            (r) => {
              setBusy(null);
              setResults({ status: 'ready', layers: r.layers });
            },
            (e: unknown) => {
              setBusy(null);
              setError(`The verdict was saved, but the results could not be read again: ${message(e)}`);
            },
          );
        },
        (e: unknown) => {
          setBusy(null);
          setError(`The slide-level verdict was not saved: ${message(e)}`);
        },
      );
    },
    [slideId],
  );

  return {
    results,
    views,
    findings,
    shown,
    selected,
    busy,
    error,
    canJudge,
    setView,
    select: setSelected,
    step,
    judgeSelected,
    judgeFinding,
    judgeSlide,
    dismissError: useCallback(() => setError(null), []),
    report: setError,
    reload: useCallback(() => setAttempt((a) => a + 1), []),
  };
}
