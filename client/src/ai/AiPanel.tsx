import type { AiFindingDto, AiLayerDto, Verdict } from '../../../protocol/ai.ts';
import { COLOUR_MAP_LABELS, COLOUR_MAPS, legendGradient, type ColourMap } from './colormap.ts';
import { thresholdScale } from './findings.ts';
import { RunAlgorithm } from './RunAlgorithm.tsx';
import type { AiLayers, LayerView } from './useAiLayers.ts';

const VERDICT_WORD: Record<Verdict, string> = { accept: 'Accepted', reject: 'Rejected' };

const fmt = (n: number): string => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2));

function when(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? ''
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function VerdictButtons({
  mine,
  busy,
  onJudge,
  keys,
  testid,
}: {
  mine: Verdict | null;
  busy: boolean;
  onJudge: (v: Verdict | null) => void;
  keys: { accept: string; reject: string };
  testid: string;
}) {
  return (
    <div className="ai-verdict-buttons" data-testid={testid} data-verdict={mine ?? ''}>
      <button
        type="button"
        className={`btn small${mine === 'accept' ? ' ai-on-accept' : ''}`}
        disabled={busy}
        aria-pressed={mine === 'accept'}
        onClick={() => onJudge(mine === 'accept' ? null : 'accept')}
        title={`Accept (${keys.accept}; again to withdraw)`}
      >
        Accept <kbd>{keys.accept}</kbd>
      </button>
      <button
        type="button"
        className={`btn small${mine === 'reject' ? ' ai-on-reject' : ''}`}
        disabled={busy}
        aria-pressed={mine === 'reject'}
        onClick={() => onJudge(mine === 'reject' ? null : 'reject')}
        title={`Reject (${keys.reject}; again to withdraw)`}
      >
        Reject <kbd>{keys.reject}</kbd>
      </button>
      {mine && (
        <button type="button" className="btn small" disabled={busy} onClick={() => onJudge(null)}>
          Withdraw
        </button>
      )}
    </div>
  );
}

function SelectedFinding({ ai, layer, finding }: { ai: AiLayers; layer: AiLayerDto; finding: AiFindingDto }) {
  return (
    <div className="ai-selected" data-testid="ai-selected" data-finding-id={finding.id}>
      <div>
        <strong>{finding.label || finding.classification?.name || 'Finding'}</strong>
        {finding.score !== null && <span className="muted"> · score {fmt(finding.score)}</span>}
      </div>
      <div className="muted small">
        {finding.verdict ? (
          <span className={`ai-verdict-mark ${finding.verdict}`}>{VERDICT_WORD[finding.verdict]} by you</span>
        ) : (
          'Not judged by you'
        )}
      </div>
      {ai.canJudge && (
        <VerdictButtons
          mine={finding.verdict}
          busy={ai.busy === finding.id}
          onJudge={(v) => ai.judgeFinding(layer.run.id, finding.id, v)}
          keys={{ accept: 'A', reject: 'X' }}
          testid="ai-finding-verdict"
        />
      )}
    </div>
  );
}

function Layer({ ai, layer, view }: { ai: AiLayers; layer: AiLayerDto; view: LayerView }) {
  const id = layer.run.id;
  const f = ai.findings[id];
  const shown = ai.shown.find((s) => s.layer.run.id === id);
  const scale = thresholdScale(layer.findings.scoreRange);
  const selected =
    ai.selected?.runId === id && f?.status === 'ready'
      ? f.findings.find((x) => x.id === ai.selected!.findingId)
      : undefined;
  const result = layer.slideResult;
  const mine = layer.verdicts.mine?.verdict ?? null;
  const { name, version } = layer.run.algorithm;
  return (
    <section
      className={`ai-layer${view.visible ? ' on' : ''}`}
      data-testid="ai-layer"
      data-run-id={id}
      aria-label={`AI layer: ${name} ${version}`}
    >
      <header className="ai-layer-head">
        <span className="ai-badge" title="Output of an algorithm, not a pathologist’s reading">
          AI
        </span>
        <span className="ai-layer-name">
          <strong>{name}</strong> <span className="muted">v{version}</span>
          <span className="muted small ai-layer-when">{when(layer.run.finishedAt)}</span>
        </span>
        <label className="ai-show">
          <input
            type="checkbox"
            checked={view.visible}
            onChange={(e) => ai.setView(id, { visible: e.target.checked })}
            data-testid="ai-layer-toggle"
          />
          Show
        </label>
      </header>

      {result && (
        <div className="ai-slide-result" data-testid="ai-slide-result">
          <div>
            <span className="muted small">Slide result: </span>
            <strong
              className={
                result.positive === true ? 'ai-positive' : result.positive === false ? 'ai-negative' : ''
              }
            >
              {result.label}
            </strong>
            {result.score !== null && <span className="muted"> · score {fmt(result.score)}</span>}
          </div>
          {result.text && <p className="ai-result-text small">{result.text}</p>}
          <div className="muted small">
            {mine ? (
              <span className={`ai-verdict-mark ${mine}`} data-testid="ai-slide-verdict">
                {VERDICT_WORD[mine]} by you
              </span>
            ) : (
              'Not judged by you'
            )}
            {(layer.verdicts.slideAccepted > 0 || layer.verdicts.slideRejected > 0) && (
              <>
                {' '}
                · all readers: {layer.verdicts.slideAccepted} accepted, {layer.verdicts.slideRejected}{' '}
                rejected
              </>
            )}
          </div>
          {ai.canJudge && (
            <VerdictButtons
              mine={mine}
              busy={ai.busy === `slide:${id}`}
              onJudge={(v) => ai.judgeSlide(id, v)}
              keys={{ accept: 'Shift+A', reject: 'Shift+X' }}
              testid="ai-slide-verdict-buttons"
            />
          )}
        </div>
      )}

      {view.visible && (
        <div className="ai-layer-controls">
          <label className="ai-control">
            <span>Opacity</span>
            <input
              type="range"
              min={0.1}
              max={1}
              step={0.05}
              value={view.opacity}
              onChange={(e) => ai.setView(id, { opacity: Number(e.target.value) })}
              aria-label="Opacity"
              data-testid="ai-opacity"
            />
            <span className="ai-value">{Math.round(view.opacity * 100)} %</span>
          </label>

          {layer.heatmaps.map((h) => (
            <div key={h.id} className="ai-heatmap-legend">
              <div className="small">
                Heat map: <strong>{h.label || h.name}</strong>
              </div>
              <div className="ai-legend-bar" style={{ background: legendGradient(view.colourMap) }} />
              <div className="ai-legend-scale small muted">
                <span>{fmt(h.range[0])}</span>
                <span>{fmt(h.range[1])}</span>
              </div>
            </div>
          ))}
          {layer.heatmaps.length > 0 && (
            <label className="ai-control">
              <span>Colours</span>
              <select
                value={view.colourMap}
                onChange={(e) => ai.setView(id, { colourMap: e.target.value as ColourMap })}
                data-testid="ai-colour-map"
              >
                {COLOUR_MAPS.map((m) => (
                  <option key={m} value={m}>
                    {COLOUR_MAP_LABELS[m]}
                  </option>
                ))}
              </select>
            </label>
          )}

          {layer.findings.count > 0 && (
            <>
              <label className="ai-control">
                <span>Min. score</span>
                <input
                  type="range"
                  min={scale.min}
                  max={scale.max}
                  step={scale.step}
                  value={view.threshold}
                  onChange={(e) => ai.setView(id, { threshold: Number(e.target.value) })}
                  aria-label="Score threshold"
                  data-testid="ai-threshold"
                />
                <span className="ai-value">{fmt(view.threshold)}</span>
              </label>
              <div className="small muted" data-testid="ai-findings-count">
                {f?.status === 'loading' && 'Loading findings…'}
                {f?.status === 'error' && <span className="error">Findings not loaded: {f.message}</span>}
                {f?.status === 'ready' &&
                  `${shown?.findings.length ?? 0} of ${f.findings.length} findings shown` +
                    (layer.findings.classes.length > 0 ? ` (${layer.findings.classes.join(', ')})` : '')}
              </div>
              <div className="ai-step">
                <button
                  type="button"
                  className="btn small"
                  onClick={() => ai.step(-1)}
                  title="Previous finding (Shift+N)"
                >
                  ← Previous
                </button>
                <button
                  type="button"
                  className="btn small"
                  onClick={() => ai.step(1)}
                  title="Next finding (N)"
                >
                  Next <kbd>N</kbd>
                </button>
              </div>
              {selected && <SelectedFinding ai={ai} layer={layer} finding={selected} />}
            </>
          )}
        </div>
      )}
    </section>
  );
}

/** The side panel's AI tab: each algorithm's run on the slide as a layer, marked as AI output. */
export function AiPanel({ ai, slideId, canRun }: { ai: AiLayers; slideId: string; canRun: boolean }) {
  const r = ai.results;
  return (
    <div className="panel-section ai-panel" data-testid="ai-panel">
      <p className="muted small hint">
        Algorithms’ output, drawn dashed and marked <span className="ai-badge">AI</span>: never a
        pathologist’s annotation. N steps through the findings shown, A accepts and X rejects the selected
        one; Shift+A and Shift+X judge the slide-level result.
      </p>
      {ai.error && (
        <div className="ai-error" role="alert" data-testid="ai-error">
          <span>{ai.error}</span>
          <button type="button" className="icon-btn" aria-label="Dismiss" onClick={ai.dismissError}>
            ×
          </button>
        </div>
      )}
      {r.status === 'loading' && <p className="muted">Loading AI results…</p>}
      {r.status === 'error' && (
        <div className="ai-error" role="alert">
          <span>AI results could not be loaded: {r.message}</span>
          <button type="button" className="btn small" onClick={ai.reload}>
            Retry
          </button>
        </div>
      )}
      {r.status === 'ready' && r.layers.length === 0 && (
        <p className="muted" data-testid="ai-none">
          No algorithm has results on this slide.
        </p>
      )}
      {canRun && <RunAlgorithm slideId={slideId} onDone={ai.reload} />}
      {r.status === 'ready' &&
        r.layers.map((l) => {
          const view = ai.views[l.run.id];
          return view ? <Layer key={l.run.id} ai={ai} layer={l} view={view} /> : null;
        })}
    </div>
  );
}
