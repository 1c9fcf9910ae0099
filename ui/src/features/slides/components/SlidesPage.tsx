import { useQuery } from "@tanstack/react-query";
import { FileImage, ImageOff, Trash2, UploadCloud, Workflow, X } from "lucide-react";
import { FocusTrap } from "focus-trap-react";
import { useMemo, useRef, useState } from "react";
import { Link, useLocation, useSearchParams } from "react-router";

import { tenantHeaders } from "@/shared/api/client";
import { ApiError, toApiError } from "@/shared/api/errors";
import { dziQuery, type Slide } from "@/shared/api/slides";
import { formatBytes, formatCount } from "@/shared/lib/format";
import { useTenant } from "@/shared/tenant/useTenant";
import { Button, Card, ConfirmButton, EmptyState, ErrorNotice, Loading, PageHeader, ProgressBar, Skeleton, useTitle, useToast } from "@/shared/ui";
import { DeepZoomViewer } from "@/shared/viewer/DeepZoomViewer";

import { useDeleteUpload, useSlides, useThumbnail, useUploadSlide } from "../api/slides";

export function SlidesPage() {
  useTitle("Slides");
  const slides = useSlides();
  // the open slide is in the URL (?slide=<ref>): a link to it opens its drawer
  const [params, setParams] = useSearchParams();
  const wanted = params.get("slide");
  const open = (wanted && slides.data?.find((s) => s.slide === wanted)) || null;
  const here = useLocation().pathname;
  const setOpen = (slide: Slide | null) => {
    // a link out of the drawer closes it by unmounting it (its focus trap then calls onClose):
    // the page it went to keeps its address
    if (window.location.pathname !== here) return;
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (slide) next.set("slide", slide.slide);
      else next.delete("slide");
      return next;
    }, { replace: slide === null });
  };
  const missingApi = slides.error && toApiError(slides.error).status === 404;
  return (
    <div className="page">
      <PageHeader title="Slides" subtitle="Whole-slide images in the data root, ready for tissue masks and cell segmentation." />
      <Uploader />
      {slides.isPending ? (
        <div className="slide-grid">
          {[0, 1, 2].map((i) => (
            <div key={i} className="slide-card">
              <div className="slide-card__thumb">
                <Skeleton height="100%" radius={0} />
              </div>
              <div className="slide-card__body">
                <Skeleton width="70%" />
                <Skeleton width="50%" height={12} />
              </div>
            </div>
          ))}
        </div>
      ) : missingApi ? (
        <EmptyState icon={<FileImage size={28} />} title="This gateway has no slides API yet">
          <span className="mono small">{toApiError(slides.error).message}</span>
        </EmptyState>
      ) : slides.error ? (
        <ErrorNotice error={slides.error} onRetry={() => void slides.refetch()} />
      ) : slides.data.length === 0 ? (
        <EmptyState icon={<FileImage size={28} />} title="No slides yet">
          Upload an SVS, NDPI, SCN, BIF or TIFF slide above, or place one in the data root.
        </EmptyState>
      ) : (
        <div className="slide-grid" data-testid="slide-grid">
          {slides.data.map((s) => (
            <SlideCard key={s.slide} slide={s} onOpen={() => setOpen(s)} />
          ))}
        </div>
      )}
      {wanted && slides.data && !open && (
        <ErrorNotice error={new ApiError(404, `No slide ${wanted} for this tenant: it may have been deleted, or be another tenant's upload.`)} title="Slide not found" />
      )}
      {open && <SlideDrawer slide={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

function SlideCard({ slide, onOpen }: { slide: Slide; onOpen: () => void }) {
  const thumb = useThumbnail(slide.slide);
  return (
    <button type="button" className="slide-card" onClick={onOpen} data-slide={slide.slide}>
      <div className="slide-card__thumb">
        {thumb.url ? <img src={thumb.url} alt={`${slide.name} thumbnail`} /> : thumb.failed ? <ImageOff size={28} className="muted" /> : <Skeleton height="100%" radius={0} />}
      </div>
      <div className="slide-card__body">
        <div className="slide-card__name" title={slide.slide}>
          {slide.name}
        </div>
        <div className="slide-card__meta">
          <span>
            {formatCount(slide.width)} × {formatCount(slide.height)} px
          </span>
          {slide.mpp != null && <span>{slide.mpp.toFixed(3)} µm/px</span>}
          <span>
            {slide.levels} {slide.levels === 1 ? "level" : "levels"}
          </span>
          <span>{formatBytes(slide.size_bytes)}</span>
        </div>
        <div className="slide-card__foot">
          <span className="muted small">
            {slide.format ?? slide.vendor ?? "unknown format"}
            {slide.objective_power ? ` · ${slide.objective_power}×` : ""}
          </span>
          <span className={`chip${slide.uploaded ? " chip--mine" : ""}`}>{slide.uploaded ? "your upload" : "shared"}</span>
        </div>
      </div>
    </button>
  );
}

function SlideDrawer({ slide, onClose }: { slide: Slide; onClose: () => void }) {
  const tenant = useTenant();
  const dzi = useQuery({ ...dziQuery(tenant, slide.slide), retry: 1 });
  const headers = useMemo(() => tenantHeaders(), [tenant]);
  const layers = useMemo(() => (dzi.data ? [{ id: "slide", descriptor: dzi.data, opacity: 1, visible: true }] : []), [dzi.data]);
  const panel = useRef<HTMLDivElement>(null);
  return (
    // the focus stays in the drawer while it is open (Escape closes it) and goes back to the card
    <FocusTrap focusTrapOptions={{ onDeactivate: onClose, fallbackFocus: () => panel.current ?? document.body }}>
      <div className="drawer" role="dialog" aria-modal aria-label={slide.name}>
        <div className="drawer__backdrop" onClick={onClose} />
        <div className="drawer__panel" ref={panel} tabIndex={-1}>
          <header className="drawer__head">
            <div>
              <div className="drawer__title">{slide.name}</div>
              <div className="muted small">
                <span className="mono">{slide.slide}</span> · {formatCount(slide.width)} × {formatCount(slide.height)} px
                {slide.mpp != null ? ` · ${slide.mpp.toFixed(3)} µm/px` : ""}
                {slide.vendor ? ` · ${slide.vendor}` : ""}
              </div>
              <Link to={`/workflows/new?slide=${encodeURIComponent(slide.slide)}`} className="btn btn--secondary btn--sm drawer__use">
                <Workflow size={14} /> Use this slide in a new workflow
              </Link>
            </div>
            <div className="drawer__actions">
              {slide.uploaded && <DeleteUpload slide={slide} onDeleted={onClose} />}
              <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
                <X size={18} />
              </button>
            </div>
          </header>
          {dzi.isPending ? <Loading label="Opening the slide…" /> : dzi.error ? <ErrorNotice error={dzi.error} /> : <DeepZoomViewer layers={layers} headers={headers} height="100%" label={slide.name} />}
        </div>
      </div>
    </FocusTrap>
  );
}

function DeleteUpload({ slide, onDeleted }: { slide: Slide; onDeleted: () => void }) {
  const remove = useDeleteUpload();
  const toast = useToast();
  return (
    <>
      {remove.error && <ErrorNotice error={remove.error} compact title="Not deleted" />}
      <ConfirmButton
        label="Delete upload"
        confirmLabel="Click again to delete"
        icon={<Trash2 size={16} />}
        busy={remove.isPending}
        onConfirm={() =>
          remove.mutate(slide.slide, {
            onSuccess: () => {
              toast("success", "Upload deleted", slide.name);
              onDeleted();
            },
          })
        }
      />
    </>
  );
}

function Uploader() {
  const upload = useUploadSlide();
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const start = (f: File) => {
    setFile(f);
    upload.mutate(f, { onSuccess: (slide) => toast("success", "Slide uploaded", `Use it in workflows as ${slide.slide}`) });
  };
  return (
    <Card className={`uploader${over ? " is-over" : ""}`}>
      <div
        className="uploader__zone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          const f = e.dataTransfer.files[0];
          if (f) start(f);
        }}
      >
        <UploadCloud size={28} className="uploader__icon" />
        <div>
          <div className="uploader__title">Drop a slide here</div>
          <div className="muted small">
            It is streamed to the gateway as it is read; big slides are fine. MRXS and DICOM series: one .zip.
          </div>
        </div>
        <Button variant="secondary" onClick={() => input.current?.click()} disabled={upload.isPending}>
          Choose file
        </Button>
        <input
          ref={input}
          type="file"
          hidden
          accept=".svs,.tif,.tiff,.ndpi,.scn,.bif,.svslide,.zip"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) start(f);
            e.target.value = "";
          }}
        />
      </div>
      {file && (upload.isPending || upload.isSuccess) && (
        <div className="uploader__progress">
          <span className="mono small">{file.name}</span>
          <ProgressBar percent={upload.progress * 100} state={upload.isSuccess ? "SUCCEEDED" : "RUNNING"} label="Upload progress" showText />
          <span className="muted small">
            {formatBytes(file.size * upload.progress)} of {formatBytes(file.size)}
          </span>
        </div>
      )}
      {upload.error && <ErrorNotice error={upload.error} compact title={`Upload of ${file?.name ?? "the slide"} failed`} />}
    </Card>
  );
}
