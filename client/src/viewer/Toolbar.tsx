import type { ReactNode } from 'react';
import type { AnnotationClass } from '../../../protocol/review.ts';
import { UNCLASSIFIED } from '../review/constants.ts';
import { FitIcon, RotateLeftIcon, RotateRightIcon } from '../ui/icons.tsx';
import { TOOL_KEY, type Tool } from './keys.ts';
import { TOOL_ICONS } from './tool-icons.tsx';
import { formatMagnification, imageZoomFor, isDigitalZoom, MAGNIFICATIONS, type Power } from './viewport.ts';

interface Props {
  power: Power;
  /** Highest magnification the viewer allows (beyond it the buttons are disabled). */
  maxMagnification: number;
  onMagnification: (m: number) => void;
  onFit: () => void;
  onRotate: (degrees: number) => void;
  /** The annotation tools offered, in order. */
  tools: readonly Tool[];
  tool: Tool;
  onTool: (t: Tool) => void;
  /** The class new shapes get (null: unclassified), from the palette. */
  classes: readonly AnnotationClass[];
  cls: AnnotationClass | null;
  onClass: (c: AnnotationClass | null) => void;
  children?: ReactNode;
}

export const TOOL_LABEL: Record<Tool, string> = {
  select: 'Select',
  point: 'Point',
  line: 'Line',
  polyline: 'Polyline',
  rectangle: 'Rectangle',
  ellipse: 'Ellipse',
  polygon: 'Polygon',
  freehand: 'Freehand',
};

const TOOL_HINT: Record<Tool, string> = {
  select: 'select and move annotations',
  point: 'click',
  line: 'drag; length in µm',
  polyline: 'click each vertex, double-click or Enter to end; length in µm',
  rectangle: 'drag; area in mm², perimeter in µm',
  ellipse: 'drag; area in mm², perimeter in µm',
  polygon: 'click vertices, double-click or Enter to close; area and perimeter',
  freehand: 'drag around the region; area and perimeter',
};

export function Toolbar(p: Props) {
  const magDisabled = p.power.source === 'none';
  const clsName = p.cls?.name ?? UNCLASSIFIED.name;
  return (
    <div className="toolbar" role="toolbar" aria-label="Viewer tools">
      <div className="tool-group" aria-label="Magnification">
        <button type="button" className="tbtn" onClick={p.onFit} title="Fit the slide (0)">
          <FitIcon /> Fit
        </button>
        {MAGNIFICATIONS.map((m, i) => {
          // Beyond the scan's own resolution, as the read-out marks it.
          const digital = !magDisabled && isDigitalZoom(imageZoomFor(m, p.power));
          const label = formatMagnification(m);
          return (
            <button
              key={m}
              type="button"
              className={`tbtn${digital ? ' digital' : ''}`}
              disabled={magDisabled || m > p.maxMagnification + 1e-9}
              onClick={() => p.onMagnification(m)}
              title={
                magDisabled
                  ? 'Magnification unknown for this slide'
                  : digital
                    ? `${label} (${i + 1}): digital zoom, beyond the ${p.power.source === 'objective' ? `scanner's ${formatMagnification(p.power.base)} objective` : 'scan'}; pixels are enlarged, not resolved`
                    : `${label} (${i + 1})`
              }
              aria-label={digital ? `${label}, digital zoom` : undefined}
              data-mag={m}
              data-digital={digital ? 'true' : 'false'}
            >
              {label}
            </button>
          );
        })}
      </div>
      <div className="tool-group" aria-label="Rotation">
        <button
          type="button"
          className="tbtn"
          onClick={() => p.onRotate(-90)}
          title="Rotate 90° anticlockwise ([)"
          aria-label="Rotate 90° anticlockwise"
        >
          <RotateLeftIcon />
        </button>
        <button
          type="button"
          className="tbtn"
          onClick={() => p.onRotate(90)}
          title="Rotate 90° clockwise (])"
          aria-label="Rotate 90° clockwise"
        >
          <RotateRightIcon />
        </button>
      </div>
      <div className="tool-group" aria-label="Annotation and measurement tools">
        {p.tools.map((t) => (
          <button
            key={t}
            type="button"
            className={`tbtn${p.tool === t ? ' on' : ''}`}
            aria-pressed={p.tool === t}
            onClick={() => p.onTool(t)}
            title={`${TOOL_LABEL[t]} (${TOOL_KEY[t]}): ${TOOL_HINT[t]}`}
            aria-label={TOOL_LABEL[t]}
            data-ann-tool={t}
          >
            {TOOL_ICONS[t]} <span className="tbtn-label">{TOOL_LABEL[t]}</span>
          </button>
        ))}
      </div>
      <label className="class-pick" title="Class of the shapes you draw">
        <svg width="12" height="12" aria-hidden="true">
          <rect width="12" height="12" rx="2" fill={p.cls?.color ?? UNCLASSIFIED.color} />
        </svg>
        <select
          className="tselect"
          value={clsName}
          onChange={(e) => {
            const c = p.classes.find((x) => x.name === e.target.value);
            p.onClass(c ? { ...c } : null);
          }}
          aria-label="Class of new annotations"
          data-testid="class-picker"
        >
          {p.classes.map((c) => (
            <option key={c.name}>{c.name}</option>
          ))}
          <option value={UNCLASSIFIED.name}>{UNCLASSIFIED.name}</option>
        </select>
      </label>
      {p.children}
    </div>
  );
}
