import { useQuery } from "@tanstack/react-query";
import { Eye, EyeOff, X } from "lucide-react";
import { useCallback, useMemo, useState } from "react";

import { tenantHeaders } from "@/shared/api/client";
import { toApiError } from "@/shared/api/errors";
import { dziQuery, overlayQuery } from "@/shared/api/slides";
import type { JobDetail } from "@/shared/api/types";
import { formatCount } from "@/shared/lib/format";
import { useTenant } from "@/shared/tenant/useTenant";
import { Card, ErrorNotice, Loading } from "@/shared/ui";
import { DeepZoomViewer, type Highlight, type ViewerLayer, type ViewState } from "@/shared/viewer/DeepZoomViewer";
import { formatArea, formatPoint } from "@/shared/viewer/measure";
import { readPosition, writePosition } from "@/shared/viewer/position";

import { useCellAt, useCellCount, useDebounced, type Box, type Cell } from "../api/cells";

const OVERLAY_TYPES = new Set(["cell_segmentation", "tissue_mask"]);
const OVERLAY_PARAM = "overlay";

/** The page's URL with the viewer's position and overlay switch in its query (no history
 *  entry: a deep link to this view, restored on load). */
function rememberView(position: ViewState["position"] | null, overlay: boolean): void {
  const url = new URL(window.location.href);
  let params = position ? writePosition(url.searchParams, position) : url.searchParams;
  params = new URLSearchParams(params);
  if (overlay) params.delete(OVERLAY_PARAM);
  else params.set(OVERLAY_PARAM, "off");
  url.search = params.toString();
  window.history.replaceState(window.history.state, "", url);
}

export function SlideViewerCard({ job }: { job: JobDetail & { slide: string } }) {
  const tenant = useTenant();
  const dzi = useQuery({ ...dziQuery(tenant, job.slide), retry: 1 });
  const hasOverlay = OVERLAY_TYPES.has(job.type) && job.state === "SUCCEEDED";
  const hasCells = hasOverlay && job.type === "cell_segmentation";
  const overlay = useQuery({ ...overlayQuery(tenant, job.workflow_id, job.id), enabled: hasOverlay, retry: 1 });
  const [initial] = useState(() => new URLSearchParams(window.location.search));
  const [showOverlay, setShowOverlay] = useState(() => initial.get(OVERLAY_PARAM) !== "off");
  const [opacity, setOpacity] = useState(0.6);
  const [view, setView] = useState<ViewState | null>(null);
  const headers = useMemo(() => tenantHeaders(), [tenant]);
  const pick = useCellAt(job.workflow_id, job.id);
  const box = useDebounced<Box | null>(hasCells ? (view?.box ?? null) : null, 300);
  const count = useCellCount(job.workflow_id, job.id, box);

  const layers = useMemo<ViewerLayer[]>(() => {
    if (!dzi.data) return [];
    const base: ViewerLayer = { id: "slide", descriptor: dzi.data, opacity: 1, visible: true };
    if (!hasOverlay || !overlay.data) return [base];
    return [base, { id: "overlay", descriptor: overlay.data, opacity, visible: showOverlay }];
  }, [dzi.data, overlay.data, hasOverlay, opacity, showOverlay]);

  const onView = useCallback(
    (next: ViewState) => {
      setView(next);
      rememberView(next.position, showOverlay);
    },
    [showOverlay],
  );
  const toggleOverlay = () => {
    setShowOverlay(!showOverlay);
    rememberView(view?.position ?? null, !showOverlay);
  };
  const { mutate, reset } = pick;
  const onPick = useCallback((point: { x: number; y: number }) => mutate(point), [mutate]);
  const cell = pick.data ?? null;
  const highlight = useMemo<Highlight | null>(() => (cell ? { bbox: cell.bbox, polygon: cell.polygon } : null), [cell]);

  const overlayName = job.type === "tissue_mask" ? "tissue mask" : "cell contours";
  const mpp = dzi.data?.mpp ?? null;
  return (
    <Card
      title="Slide"
      className="viewer-card"
      actions={
        hasOverlay ? (
          <div className="viewer-card__tools">
            <button type="button" className={`chip chip--toggle${showOverlay ? " is-on" : ""}`} aria-pressed={showOverlay} onClick={toggleOverlay}>
              {showOverlay ? <Eye size={13} /> : <EyeOff size={13} />} {overlayName}
            </button>
            <label className="slider">
              <span className="muted small">opacity</span>
              <input
                type="range"
                min={0}
                max={1}
                step={0.05}
                value={opacity}
                disabled={!showOverlay}
                aria-label="Overlay opacity"
                onChange={(e) => setOpacity(Number(e.target.value))}
              />
            </label>
          </div>
        ) : (
          <span className="muted small">{OVERLAY_TYPES.has(job.type) ? `the ${job.type === "tissue_mask" ? "mask" : "cells"} appear here once the job succeeds` : job.slide}</span>
        )
      }
      flush
    >
      {overlay.error && (
        <div className="viewer-card__error">
          <ErrorNotice error={overlay.error} compact title="No overlay" />
        </div>
      )}
      {dzi.isPending ? (
        <div className="viewer viewer--placeholder">
          <Loading label="Opening the slide…" />
        </div>
      ) : dzi.error ? (
        <div className="viewer-card__error">
          <ErrorNotice error={dzi.error} title={`Cannot show ${job.slide}`} />
        </div>
      ) : (
        <DeepZoomViewer
          key={tenant}
          layers={layers}
          headers={headers}
          label={`${job.slide} with ${overlayName}`}
          initialPosition={readPosition(initial)}
          onView={onView}
          onPick={hasCells ? onPick : undefined}
          highlight={highlight}
        />
      )}
      {hasCells && (
        <div className="viewer-card__facts">
          <div className="viewer-card__count" data-testid="cells-in-view" data-count={count.data?.count ?? undefined}>
            {count.error ? (
              <span className="muted small">cells in view: {toApiError(count.error).message}</span>
            ) : count.data ? (
              <>
                <strong>{formatCount(count.data.count)}</strong> <span className="muted">{count.data.count === 1 ? "cell" : "cells"} in view</span>
              </>
            ) : (
              <span className="muted small">counting the cells in view…</span>
            )}
          </div>
          <CellPanel cell={cell} error={pick.error} pending={pick.isPending} mpp={mpp} onClose={reset} />
        </div>
      )}
    </Card>
  );
}

function CellPanel({ cell, error, pending, mpp, onClose }: { cell: Cell | null; error: unknown; pending: boolean; mpp: number | null; onClose: () => void }) {
  if (pending) return <div className="cell-panel muted small">Looking for a cell there…</div>;
  if (error) {
    const e = toApiError(error);
    return (
      <div className="cell-panel muted small" data-testid="cell-panel" data-empty>
        {e.status === 404 ? "No cell there: click inside an outline." : e.message}
      </div>
    );
  }
  if (!cell) return <div className="cell-panel muted small">Click a cell for its area and centroid.</div>;
  const centroid = formatPoint(cell.centroid[0], cell.centroid[1], mpp);
  return (
    <div className="cell-panel" data-testid="cell-panel" data-cell={cell.id}>
      <dl>
        <div>
          <dt>Cell</dt>
          <dd className="mono">#{cell.id}</dd>
        </div>
        <div>
          <dt>Area</dt>
          <dd>{formatArea(cell.area_um2, cell.area_px)}</dd>
        </div>
        <div>
          <dt>Centroid</dt>
          <dd>
            {centroid.um && <span>{centroid.um} </span>}
            <span className="muted">{centroid.px}</span>
          </dd>
        </div>
      </dl>
      <button type="button" className="icon-btn" aria-label="Close the cell's details" onClick={onClose}>
        <X size={15} />
      </button>
    </div>
  );
}
