import { useQuery } from "@tanstack/react-query";
import { Eye, EyeOff } from "lucide-react";
import { useMemo, useState } from "react";

import { tenantHeaders } from "@/shared/api/client";
import { dziQuery, overlayQuery } from "@/shared/api/slides";
import type { JobDetail } from "@/shared/api/types";
import { useTenant } from "@/shared/tenant/useTenant";
import { Card, ErrorNotice, Loading } from "@/shared/ui";
import { DeepZoomViewer, type ViewerLayer } from "@/shared/viewer/DeepZoomViewer";

const OVERLAY_TYPES = new Set(["cell_segmentation", "tissue_mask"]);

export function SlideViewerCard({ job }: { job: JobDetail & { slide: string } }) {
  const tenant = useTenant();
  const dzi = useQuery({ ...dziQuery(tenant, job.slide), retry: 1 });
  const hasOverlay = OVERLAY_TYPES.has(job.type) && job.state === "SUCCEEDED";
  const overlay = useQuery({ ...overlayQuery(tenant, job.workflow_id, job.id), enabled: hasOverlay, retry: 1 });
  const [showOverlay, setShowOverlay] = useState(true);
  const [opacity, setOpacity] = useState(0.6);
  const headers = useMemo(() => tenantHeaders(), [tenant]);

  const layers = useMemo<ViewerLayer[]>(() => {
    if (!dzi.data) return [];
    const base: ViewerLayer = { id: "slide", descriptor: dzi.data, opacity: 1, visible: true };
    if (!hasOverlay || !overlay.data) return [base];
    return [base, { id: "overlay", descriptor: overlay.data, opacity, visible: showOverlay }];
  }, [dzi.data, overlay.data, hasOverlay, opacity, showOverlay]);

  const overlayName = job.type === "tissue_mask" ? "tissue mask" : "cell contours";
  return (
    <Card
      title="Slide"
      className="viewer-card"
      actions={
        hasOverlay ? (
          <div className="viewer-card__tools">
            <button type="button" className={`chip chip--toggle${showOverlay ? " is-on" : ""}`} aria-pressed={showOverlay} onClick={() => setShowOverlay((v) => !v)}>
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
        <DeepZoomViewer key={tenant} layers={layers} headers={headers} label={`${job.slide} with ${overlayName}`} />
      )}
    </Card>
  );
}
