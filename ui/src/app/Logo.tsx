import { useId } from "react";

export function Logo({ size = 28 }: { size?: number }) {
  // ids must be unique per instance: a gradient inside a hidden copy (the sidebar on phones) does not paint
  const id = useId();
  // a mosaic: the tiles a slide is cut into
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden>
      <defs>
        <linearGradient id={id} x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#8b7cf6" />
          <stop offset="1" stopColor="#e35d9b" />
        </linearGradient>
      </defs>
      <rect x="2" y="2" width="12.5" height="12.5" rx="3" fill={`url(#${id})`} />
      <rect x="17.5" y="2" width="12.5" height="12.5" rx="3" fill={`url(#${id})`} opacity="0.55" />
      <rect x="2" y="17.5" width="12.5" height="12.5" rx="3" fill={`url(#${id})`} opacity="0.8" />
      <rect x="17.5" y="17.5" width="12.5" height="12.5" rx="3" fill={`url(#${id})`} opacity="0.3" />
    </svg>
  );
}
