import type { ReactNode } from 'react';

/** Line icons drawn inline: no icon font or emoji font is guaranteed on a locked-down workstation. */
function Icon({ children }: { children: ReactNode }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

export const PanIcon = () => (
  <Icon>
    <path d="M8 1.5v13M1.5 8h13M8 1.5 6 3.5M8 1.5l2 2M8 14.5l-2-2M8 14.5l2-2M1.5 8l2-2M1.5 8l2 2M14.5 8l-2-2M14.5 8l-2 2" />
  </Icon>
);
export const LineIcon = () => (
  <Icon>
    <path d="M3 13 13 3" />
    <circle cx="3" cy="13" r="1.6" />
    <circle cx="13" cy="3" r="1.6" />
  </Icon>
);
export const RectIcon = () => (
  <Icon>
    <rect x="2.5" y="4" width="11" height="8" rx="0.5" />
  </Icon>
);
export const PolygonIcon = () => (
  <Icon>
    <path d="M8 2 14 6.5 11.5 13.5h-7L2 6.5Z" />
  </Icon>
);
export const RotateLeftIcon = () => (
  <Icon>
    <path d="M3.5 6.5A5 5 0 1 1 3 9.5" />
    <path d="M3.5 2.5v4h4" />
  </Icon>
);
export const RotateRightIcon = () => (
  <Icon>
    <path d="M12.5 6.5A5 5 0 1 0 13 9.5" />
    <path d="M12.5 2.5v4h-4" />
  </Icon>
);
export const SyncIcon = () => (
  <Icon>
    <path d="M6.5 9.5 9.5 6.5M7 4.5l1.5-1.5a2.5 2.5 0 0 1 3.5 3.5L10.5 8M9 11.5 7.5 13a2.5 2.5 0 0 1-3.5-3.5L5.5 8" />
  </Icon>
);
export const FitIcon = () => (
  <Icon>
    <path d="M2 5.5V2h3.5M10.5 2H14v3.5M14 10.5V14h-3.5M5.5 14H2v-3.5" />
  </Icon>
);
export const ShareIcon = () => (
  <Icon>
    <circle cx="4" cy="8" r="1.8" />
    <circle cx="12" cy="3.5" r="1.8" />
    <circle cx="12" cy="12.5" r="1.8" />
    <path d="M5.6 7.1 10.4 4.4M5.6 8.9l4.8 2.7" />
  </Icon>
);
