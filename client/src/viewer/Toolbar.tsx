import type { ReactNode } from 'react';
import {
  FitIcon,
  LineIcon,
  PanIcon,
  PolygonIcon,
  RectIcon,
  RotateLeftIcon,
  RotateRightIcon,
} from '../ui/icons.tsx';
import type { Tool } from './keys.ts';
import { formatMagnification, MAGNIFICATIONS, type Power } from './viewport.ts';

interface Props {
  power: Power;
  /** Highest magnification the viewer allows (beyond it the buttons are disabled). */
  maxMagnification: number;
  onMagnification: (m: number) => void;
  onFit: () => void;
  onRotate: (degrees: number) => void;
  tool: Tool;
  onTool: (t: Tool) => void;
  children?: ReactNode;
}

const TOOLS: { tool: Tool; label: string; key: string; icon: ReactNode }[] = [
  { tool: 'pan', label: 'Pan', key: 'M', icon: <PanIcon /> },
  { tool: 'line', label: 'Line', key: 'L', icon: <LineIcon /> },
  { tool: 'rect', label: 'Rectangle', key: 'B', icon: <RectIcon /> },
  { tool: 'polygon', label: 'Polygon', key: 'P', icon: <PolygonIcon /> },
];

export function Toolbar(p: Props) {
  const magDisabled = p.power.source === 'none';
  return (
    <div className="toolbar" role="toolbar" aria-label="Viewer tools">
      <div className="tool-group" aria-label="Magnification">
        <button type="button" className="tbtn" onClick={p.onFit} title="Fit the slide (0)">
          <FitIcon /> Fit
        </button>
        {MAGNIFICATIONS.map((m, i) => (
          <button
            key={m}
            type="button"
            className="tbtn"
            disabled={magDisabled || m > p.maxMagnification + 1e-9}
            onClick={() => p.onMagnification(m)}
            title={
              magDisabled ? 'Magnification unknown for this slide' : `${formatMagnification(m)} (${i + 1})`
            }
            data-mag={m}
          >
            {formatMagnification(m)}
          </button>
        ))}
      </div>
      <div className="tool-group" aria-label="Rotation">
        <button
          type="button"
          className="tbtn"
          onClick={() => p.onRotate(-90)}
          title="Rotate 90° anticlockwise (Shift+R)"
          aria-label="Rotate 90° anticlockwise"
        >
          <RotateLeftIcon />
        </button>
        <button
          type="button"
          className="tbtn"
          onClick={() => p.onRotate(90)}
          title="Rotate 90° clockwise (R)"
          aria-label="Rotate 90° clockwise"
        >
          <RotateRightIcon />
        </button>
      </div>
      <div className="tool-group" aria-label="Measurement tools">
        {TOOLS.map((t) => (
          <button
            key={t.tool}
            type="button"
            className={`tbtn${p.tool === t.tool ? ' on' : ''}`}
            aria-pressed={p.tool === t.tool}
            onClick={() => p.onTool(t.tool)}
            title={`${t.label} (${t.key})`}
            aria-label={t.label}
            data-tool={t.tool}
          >
            {t.icon} <span className="tbtn-label">{t.label}</span>
          </button>
        ))}
      </div>
      {p.children}
    </div>
  );
}
