import {
  defaultAdjustments,
  storedValue,
  type Adjustments,
  type ChannelLayout,
  type ChannelSetting,
  type Rgb,
} from './adjust.ts';

const hex = (c: Rgb): string => '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
function fromHex(h: string): Rgb {
  const n = Number.parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

interface SliderProps {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  text: string;
  onChange: (v: number) => void;
  testId?: string;
}

function Slider({ label, value, min, max, step, text, onChange, testId }: SliderProps) {
  return (
    <label className="adjust-row">
      <span className="adjust-label">{label}</span>
      <input
        type="range"
        min={min}
        max={max}
        step={step}
        value={value}
        onChange={(e) => onChange(Number(e.target.value))}
        data-testid={testId}
      />
      <span className="adjust-value">{text}</span>
    </label>
  );
}

interface PanelProps {
  adj: Adjustments;
  layout: ChannelLayout | null;
  rendering: string | null;
  onChange: (a: Adjustments) => void;
  onClose: () => void;
}

/** Brightness, contrast, gamma and (where the slide allows) channels, for one pane. */
export function AdjustPanel({ adj, layout, rendering, onChange, onClose }: PanelProps) {
  const setChannel = (i: number, patch: Partial<ChannelSetting>) =>
    onChange({ ...adj, channels: adj.channels.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  const separable = layout?.components != null && adj.channels.length > 0;
  return (
    <div className="adjust-panel" role="dialog" aria-label="Display adjustments">
      <div className="adjust-head">
        <strong>Display</strong>
        <button type="button" className="icon-btn" aria-label="Close adjustments" onClick={onClose}>
          ×
        </button>
      </div>
      <Slider
        label="Brightness"
        value={adj.brightness}
        min={0.2}
        max={3}
        step={0.05}
        text={`${Math.round(adj.brightness * 100)}%`}
        onChange={(brightness) => onChange({ ...adj, brightness })}
        testId="adjust-brightness"
      />
      <Slider
        label="Contrast"
        value={adj.contrast}
        min={0.2}
        max={3}
        step={0.05}
        text={`${Math.round(adj.contrast * 100)}%`}
        onChange={(contrast) => onChange({ ...adj, contrast })}
        testId="adjust-contrast"
      />
      <Slider
        label="Gamma"
        value={Math.log2(adj.gamma)}
        min={-2}
        max={2}
        step={0.05}
        text={adj.gamma.toFixed(2)}
        onChange={(l) => onChange({ ...adj, gamma: Number((2 ** l).toPrecision(3)) })}
        testId="adjust-gamma"
      />
      {separable && layout && (
        <fieldset className="adjust-channels">
          <legend>Channels</legend>
          {adj.channels.map((c, i) => {
            const info = layout.channels[i]!;
            return (
              <div key={i} className="adjust-channel" data-testid="adjust-channel">
                <label className="adjust-channel-name">
                  <input
                    type="checkbox"
                    checked={c.on}
                    onChange={(e) => setChannel(i, { on: e.target.checked })}
                  />
                  {info.name}
                </label>
                <input
                  type="color"
                  aria-label={`Colour of ${info.name}`}
                  value={hex(c.color)}
                  onChange={(e) => setChannel(i, { color: fromHex(e.target.value) })}
                />
                <Slider
                  label="from"
                  value={c.from}
                  min={0}
                  max={0.99}
                  step={0.01}
                  text={fmt(storedValue(info, c.from))}
                  onChange={(from) => setChannel(i, { from: Math.min(from, c.to - 0.01) })}
                />
                <Slider
                  label="to"
                  value={c.to}
                  min={0.01}
                  max={1}
                  step={0.01}
                  text={fmt(storedValue(info, c.to))}
                  onChange={(to) => setChannel(i, { to: Math.max(to, c.from + 0.01) })}
                />
              </div>
            );
          })}
          <p className="muted small adjust-note">
            Ranges are in the stored values and narrow the window used at ingest; values outside it were
            clipped then and cannot come back here.
          </p>
        </fieldset>
      )}
      {rendering && !separable && (
        <p className="muted small adjust-note" data-testid="adjust-rendering">
          {layout
            ? 'Channels were mixed into RGB at ingest and share colour components, so they cannot be separated here: '
            : 'Rendered at ingest: '}
          {rendering}
        </p>
      )}
      <div className="adjust-foot">
        <button
          type="button"
          className="btn"
          onClick={() => onChange(defaultAdjustments(layout))}
          data-testid="adjust-reset"
        >
          Reset
        </button>
      </div>
    </div>
  );
}
