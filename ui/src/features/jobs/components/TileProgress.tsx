import type React from "react";

import { formatCount } from "@/shared/lib/format";

const MAX_CELLS = 480;

/**
 * Tiles done out of the total as a mosaic: one square per tile, or per group of tiles when there
 * are many. The API reports counts, not which tiles, so the squares fill in order.
 */
export function TileProgress({ done, total, state }: { done: number; total: number; state: string }) {
  if (total <= 0) {
    return <div className="tiles tiles--empty muted small">{state === "PENDING" ? "Not planned yet: the tiler lays the grid when the job starts." : "No tiles planned."}</div>;
  }
  const cells = Math.min(total, MAX_CELLS);
  const per = total / cells;
  const full = Math.floor(done / per);
  const partial = done / per - full;
  const size = cells <= 48 ? 22 : cells <= 160 ? 16 : 11;
  return (
    <div className={`tiles state-${state.toLowerCase()}`} data-testid="tile-progress">
      <div className="tiles__grid" style={{ "--tile": `${size}px` } as React.CSSProperties} role="img" aria-label={`${formatCount(done)} of ${formatCount(total)} tiles done`}>
        {Array.from({ length: cells }, (_, i) => (
          <span
            key={i}
            className={i < full ? "tile is-done" : i === full && partial > 0 ? "tile is-partial" : "tile"}
            style={i === full && partial > 0 ? { opacity: 0.35 + partial * 0.65 } : undefined}
          />
        ))}
      </div>
      <div className="tiles__legend muted small">
        {per > 1 ? `each square is ~${formatCount(Math.round(per))} tiles` : "each square is one tile"}
      </div>
    </div>
  );
}
