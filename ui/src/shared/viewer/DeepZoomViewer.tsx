import OpenSeadragon from "openseadragon";
import { Home, Maximize2, ZoomIn, ZoomOut } from "lucide-react";
import { useEffect, useRef, useState } from "react";

import { tileUrl, type DeepZoomDescriptor } from "@/shared/api/slides";

export interface ViewerLayer {
  id: string;
  /** the gateway's Deep Zoom descriptor (`dzi.json` / `overlay.json`) */
  descriptor: DeepZoomDescriptor;
  opacity: number;
  visible: boolean;
}

interface DeepZoomViewerProps {
  /** the first layer is the base image; the others are drawn over it in order */
  layers: ViewerLayer[];
  headers: Record<string, string>;
  height?: number | string;
  label?: string;
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

/** OpenSeadragon over the gateway's Deep Zoom tiles; tiles are fetched with the tenant header. */
export function DeepZoomViewer({ layers, headers, height = 520, label = "Slide viewer" }: DeepZoomViewerProps) {
  const element = useRef<HTMLDivElement>(null);
  const viewer = useRef<OpenSeadragon.Viewer | null>(null);
  const items = useRef(new Map<string, OpenSeadragon.TiledImage>());
  const [failed, setFailed] = useState<string | null>(null);
  const structure = layers.map((l) => `${l.id}:${l.descriptor.tile_url}`).join("|");
  const headerKey = JSON.stringify(headers);

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
    const open = (event: { item: OpenSeadragon.TiledImage }) => {
      items.current.set(base!.id, event.item);
    };
    osd.world.addOnceHandler("add-item", open as unknown as OpenSeadragon.EventHandler<OpenSeadragon.WorldEvent>);
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
      osd.destroy();
      viewer.current = null;
    };
  }, [structure, headerKey]);

  useEffect(() => {
    for (const layer of layers) {
      items.current.get(layer.id)?.setOpacity(layer.visible ? layer.opacity : 0);
    }
  }, [layers]);

  const zoom = (factor: number) => viewer.current?.viewport.zoomBy(factor).applyConstraints();
  return (
    <div className="viewer" style={{ height: typeof height === "number" ? `min(${height}px, 70vh)` : height }}>
      <div ref={element} className="viewer__canvas" aria-label={label} role="img" data-testid="deep-zoom" />
      <div className="viewer__controls">
        <button type="button" className="icon-btn" aria-label="Zoom in" onClick={() => zoom(1.6)}>
          <ZoomIn size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Zoom out" onClick={() => zoom(1 / 1.6)}>
          <ZoomOut size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Fit" onClick={() => viewer.current?.viewport.goHome()}>
          <Home size={16} />
        </button>
        <button type="button" className="icon-btn" aria-label="Full screen" onClick={() => viewer.current?.setFullScreen(!viewer.current.isFullPage())}>
          <Maximize2 size={16} />
        </button>
      </div>
      {failed && <div className="viewer__failed">{failed}</div>}
    </div>
  );
}
