import type { ReactNode } from 'react';
import { LineIcon, PolygonIcon, RectIcon } from '../ui/icons.tsx';
import type { Tool } from './keys.ts';

/** Drawn like the shared icons (16 px, stroked by the .icon rules). */
function Icon({ children }: { children: ReactNode }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

const SelectIcon = () => (
  <Icon>
    <path d="M3.5 2v11l3-3 2 4.5 2-1-2-4.5h4Z" />
  </Icon>
);
const PointIcon = () => (
  <Icon>
    <circle cx="8" cy="8" r="2.6" />
  </Icon>
);
const PolylineIcon = () => (
  <Icon>
    <path d="M2 12 6 5l4 6 4-8" />
  </Icon>
);
const EllipseIcon = () => (
  <Icon>
    <ellipse cx="8" cy="8" rx="6" ry="4.2" />
  </Icon>
);
const FreehandIcon = () => (
  <Icon>
    <path d="M3 10c-1.5-3 1-6.5 4-6s3 3 5.5 2.5S14 10 11.5 12 5 13 3 10Z" />
  </Icon>
);

export const TOOL_ICONS: Record<Tool, ReactNode> = {
  select: <SelectIcon />,
  point: <PointIcon />,
  line: <LineIcon />,
  polyline: <PolylineIcon />,
  rectangle: <RectIcon />,
  ellipse: <EllipseIcon />,
  polygon: <PolygonIcon />,
  freehand: <FreehandIcon />,
};
