import OpenSeadragon from "openseadragon";
import { Home, Maximize2, ZoomIn, ZoomOut } from "lucide-react";
import { useEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";

import { tileUrl, type DeepZoomDescriptor } from "@/shared/api/slides";

import { formatPoint, scaleBar } from "./measure";
import type { ViewPosition } from "./position";

export interface ViewerLayer {
  id: string;
  /** the gateway's Deep Zoom descriptor (`dzi.json` / `overlay.json`) */
  descriptor: DeepZoomDescriptor;
  opacity: number;
  visible: boolean;
}

/** What the viewer shows, once it settles: its position and the level-0 box in view. */
export interface ViewState {
  position: ViewPosition;
  box: { x0: number; y0: number; x1: number; y1: number };
}

/** An outline drawn over the slide (level-0 px), e.g. the cell picked. */
export interface Highlight {
  bbox: readonly [number, number, number, number];
  polygon: readonly (readonly [number, number])[];
}

interface DeepZoomViewerProps {
  /** the first layer is the base image; the others are drawn over it in order */
  layers: ViewerLayer[];
  headers: Record<string, string>;
  height?: number | string;
  label?: string;
  /** where to open (else the whole slide); the viewer keeps its own position afterwards */
  initialPosition?: ViewPosition | null;
  /** called whenever the view settles (after opening, a pan, a zoom, a resize) */
  onView?: (view: ViewState) => void;
  /** a click (not a drag) on the slide, in level-0 px */
  onPick?: (point: { x: number; y: number }) => void;
  highlight?: Highlight | null;
}

function tileSource(layer: ViewerLayer) {
  const d = layer.descriptor;
  return {
    width: d.width,
    height: d.height,
    tileSize: d.tile_size,
    tileOverlap: d.overlap,
    minLevel: 0,
    maxLevel: d.levels - 1,
    getTileUrl: (level: number, x: number, y: number) => tileUrl(d, level, x, y),
  };
}

/** The base image's position and box in view (level-0 px), from OpenSeadragon's viewport. */
function viewOf(osd: OpenSeadragon.Viewer): ViewState | null {
  const item = osd.world.getItemAt(0);
  if (!item) return null;
  const centre = item.viewportToImageCoordinates(osd.viewport.getCenter(true));
  const zoom = item.viewportToImageZoom(osd.viewport.getZoom(true));
  const bounds = item.viewportToImageRectangle(osd.viewport.getBounds(true));
  return {
    position: { zoom, x: centre.x, y: centre.y },
    box: { x0: bounds.x, y0: bounds.y, x1: bounds.x + bounds.width, y1: bounds.y + bounds.height },
  };
}

/** OpenSeadragon over the gateway's Deep Zoom tiles; tiles are fetched with the tenant header.
 *  Shows a scale bar and magnification (from the base image's µm per pixel) and the cursor's
 *  level-0 coordinates. */
export function DeepZoomViewer({ layers, headers, height = 520, label = "Slide viewer", initialPosition, onView, onPick, highlight }: DeepZoomViewerProps) {
  const element = useRef<HTMLDivElement>(null);
  const viewer = useRef<OpenSeadragon.Viewer | null>(null);
  const items = useRef(new Map<string, OpenSeadragon.TiledImage>());
  const [failed, setFailed] = useState<string | null>(null);
  const [opened, setOpened] = useState(false);
  const [zoom, setZoom] = useState<number | null>(null);
  const [cursor, setCursor] = useState<{ x: number; y: number } | null>(null);
  // the latest position, kept when the layers change and the viewer is built anew
  const position = useRef<ViewPosition | null>(initialPosition ?? null);
  const callbacks = useRef({ onView, onPick });
  callbacks.current = { onView, onPick };
  const structure = layers.map((l) => `${l.id}:${l.descriptor.tile_url}`).join("|");
  const headerKey = JSON.stringify(headers);
  const mpp = layers[0]?.descriptor.mpp ?? null;

  useEffect(() => {
    if (!element.current || layers.length === 0) return;
    const [base, ...overlays] = layers;
    const osd = OpenSeadragon({
      element: element.current,
      tileSources: tileSource(base!),
      loadTilesWithAjax: true,
      ajaxHeaders: headers,
      showNavigationControl: false,
      showNavigator: true,
      navigatorPosition: "BOTTOM_RIGHT",
      navigatorSizeRatio: 0.16,
      navigatorBackground: "transparent",
      navigatorBorderColor: "transparent",
      navigatorDisplayRegionColor: "#8b7cf6",
      animationTime: 0.6,
      blendTime: 0.1,
      visibilityRatio: 0.6,
      minZoomImageRatio: 0.6,
      maxZoomPixelRatio: 2,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true, scrollToZoom: true },
      crossOriginPolicy: false,
    });
    viewer.current = osd;
    const settled = () => {
      const view = viewOf(osd);
      if (!view) return;
      position.current = view.position;
      callbacks.current.onView?.(view);
    };
    osd.addOnceHandler("open", () => {
      const item = osd.world.getItemAt(0);
      const start = position.current;
      if (item && start) {
        osd.viewport.zoomTo(item.imageToViewportZoom(start.zoom), undefined, true);
        osd.viewport.panTo(item.imageToViewportCoordinates(start.x, start.y), true);
      }
      items.current.set(base!.id, item);
      setOpened(true);
      settled();
    });
    osd.addHandler("animation-finish", settled);
    osd.addHandler("resize", settled);
    osd.addHandler("update-viewport", () => {
      const item = osd.world.getItemAt(0);
      if (item) setZoom(Number(item.viewportToImageZoom(osd.viewport.getZoom(true)).toPrecision(3)));
    });
    osd.addHandler("canvas-click", (event) => {
      const item = osd.world.getItemAt(0);
      if (!event.quick || !item) return;
      const p = item.viewerElementToImageCoordinates(event.position);
      callbacks.current.onPick?.({ x: p.x, y: p.y });
    });
    osd.addHandler("open-failed", () => setFailed("The slide could not be opened"));
    overlays.forEach((layer, i) => {
      osd.addTiledImage({
        tileSource: tileSource(layer),
        index: i + 1,
        opacity: layer.visible ? layer.opacity : 0,
        loadTilesWithAjax: true,
        ajaxHeaders: headers,
        success: (event) => {
          items.current.set(layer.id, (event as unknown as { item: OpenSeadragon.TiledImage }).item);
        },
      });
    });
    return () => {
      items.current.clear();
      setOpened(false);
      osd.destroy();
      viewer.current = null;
    };
  }, [structure, headerKey]);

  useEffect(() => {
    for (const layer of layers) {
      items.current.get(layer.id)?.setOpacity(layer.visible ? layer.opacity : 0);
    }
  }, [layers]);

  useEffect(() => {
    const osd = viewer.current;
    const item = osd?.world.getItemAt(0);
    if (!osd || !item || !opened) return;
    osd.clearOverlays();
    if (!highlight) return;
    const [x0, y0, x1, y1] = highlight.bbox;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `${x0} ${y0} ${x1 - x0} ${y1 - y0}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "viewer__highlight");
    svg.setAttribute("data-testid", "cell-outline");
    const outline = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
    outline.setAttribute("points", highlight.polygon.map(([x, y]) => `${x},${y}`).join(" "));
    svg.append(outline);
    osd.addOverlay({ element: svg, location: item.imageToViewportRectangle(x0, y0, x1 - x0, y1 - y0) });
  }, [highlight, opened]);

  const frame = useRef(0);
  const onPointerMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    const item = viewer.current?.world.getItemAt(0);
    if (!item) return;
    const box = e.currentTarget.getBoundingClientRect();
    const at = new OpenSeadragon.Point(e.clientX - box.left, e.clientY - box.top);
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => {
      const p = item.viewerElementToImageCoordinates(at);
      const inside = p.x >= 0 && p.y >= 0 && p.x < item.source.dimensions.x && p.y < item.source.dimensions.y;
      setCursor(inside ? { x: p.x, y: p.y } : null);
    });
  };

  const zoomBy = (factor: number) => viewer.current?.viewport.zoomBy(factor).applyConstraints();
  const bar = zoom === null ? null : scaleBar(mpp, zoom);
  const point = cursor && formatPoint(cursor.x, cursor.y, mpp);
  return (
    <div className="viewer" style={{ height: typeof height === "number" ? `min(${height}px, 70vh)` : height }} data-opened={opened || undefined}>
      <div
        ref={element}
        className="viewer__canvas"
        aria-label={label}
        role="img"
        data-testid="deep-zoom"
        onPointerMove={onPointerMove}
        onPointerLeave={() => {
          cancelAnimationFrame(frame.current);
          setCursor(null);
        }}
      />
      <div className="viewer__controls">
        <button type="button" className="icon-btn" aria-label="Zoom in" onClick={() => zoomBy(1.6)}>
          <ZoomIn size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Zoom out" onClick={() => zoomBy(1 / 1.6)}>
          <ZoomOut size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Fit" onClick={() => viewer.current?.viewport.goHome()}>
          <Home size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Full screen" onClick={() => viewer.current?.setFullScreen(!viewer.current.isFullPage())}>
          <Maximize2 size={16} />
        </button>
      </div>
      {opened && (
        <div className="viewer__hud" data-testid="viewer-hud">
          {bar ? (
            <div className="viewer__scale" data-testid="scale-bar">
              <span className="viewer__scale-bar" style={{ width: `${bar.px}px` }} />
              <span>{bar.label}</span>
              <span className="viewer__mag">{bar.magnification}</span>
            </div>
          ) : (
            <div className="viewer__scale" data-testid="scale-bar">
              no scale (pixel size unknown)
            </div>
          )}
          {point && (
            <div className="viewer__cursor" data-testid="cursor">
              {point.um && <span>{point.um}</span>}
              <span className="viewer__px">{point.px}</span>
            </div>
          )}
        </div>
      )}
      {failed && <div className="viewer__failed">{failed}</div>}
    </div>
  );
}
